//! What ECS and ENS share: RPC parameters in nested or flat form, the error body shape.
