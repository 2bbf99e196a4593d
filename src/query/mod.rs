//! What-if queries: reachability maps, diffs, hygiene and explanations.
