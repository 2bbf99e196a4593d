//! One compiled table: the classifiers of an endpoint group list for one direction and
//! family, and the decision each entry gives.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use super::classifier::{self, Addr, Classifier, Key};
use super::lower::{port_class, Lowered, Part, ICMP_PROTOCOLS};
use crate::decision::Decision;
use crate::packet::Packet;

/// A classifier and the decision of each of its entries.
#[derive(Clone, Debug)]
struct Sub<A: Addr> {
    classifier: Classifier<A>,
    /// INVARIANT: one decision per classifier entry, so every index the classifier answers
    /// is in range.
    decisions: Box<[Decision]>,
}

impl<A: Addr> Sub<A> {
    fn build(part: &Part<A>) -> Result<Sub<A>, classifier::CapacityError> {
        Ok(Sub {
            classifier: Classifier::build(&part.entries)?,
            decisions: part.decisions.clone().into_boxed_slice(),
        })
    }

    fn memory_usage(&self) -> usize {
        self.classifier.memory_usage() + std::mem::size_of_val(&*self.decisions)
    }
}

/// The list of one ICMP protocol: the destination port field is encoded (see
/// [`super::lower`]).
#[derive(Clone, Debug)]
struct IcmpSub<A: Addr> {
    sub: Sub<A>,
    classes: Box<[u16]>,
}

/// Which sub-classifier a packet goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Lane {
    /// Every protocol but ICMP and ICMPv6.
    Main,
    /// ICMP (1) or ICMPv6 (58), by index in [`ICMP_PROTOCOLS`].
    Icmp(usize),
}

impl Lane {
    /// A small index: 0 main, 1 ICMP, 2 ICMPv6.
    #[inline]
    pub(crate) fn index(self) -> usize {
        match self {
            Lane::Main => 0,
            Lane::Icmp(i) => 1 + i,
        }
    }
}

/// A compiled table.
#[derive(Clone, Debug)]
pub(crate) struct Table<A: Addr> {
    main: Sub<A>,
    icmp: [IcmpSub<A>; 2],
    /// Whether ICMP, then ICMPv6, packets go to their own list.
    lanes: [bool; 2],
    fallback: Decision,
    /// Hash of the lowered input; equal fingerprints mean equal tables (a 64-bit hash of
    /// the full entry lists and decisions).
    pub(crate) fingerprint: u64,
}

/// The fingerprint of a lowered table.
pub(crate) fn fingerprint<A: Addr>(lowered: &Lowered<A>) -> u64 {
    let mut h = DefaultHasher::new();
    lowered.hash(&mut h);
    h.finish()
}

impl<A: Addr> Table<A> {
    /// Builds the classifiers of a lowered table.
    pub(crate) fn build(
        lowered: &Lowered<A>,
        fingerprint: u64,
    ) -> Result<Table<A>, classifier::CapacityError> {
        let icmp = |i: usize| -> Result<IcmpSub<A>, classifier::CapacityError> {
            Ok(IcmpSub {
                sub: Sub::build(&lowered.icmp[i].part)?,
                classes: lowered.icmp[i].classes.clone().into_boxed_slice(),
            })
        };
        Ok(Table {
            main: Sub::build(&lowered.main)?,
            icmp: [icmp(0)?, icmp(1)?],
            lanes: lowered.lanes,
            fallback: lowered.fallback,
            fingerprint,
        })
    }

    /// The lane that decides packets of `protocol`.
    #[inline]
    pub(crate) fn lane(&self, protocol: u8) -> Lane {
        // PERF: one compare for the common case (no ICMP lists, or a non-ICMP packet).
        if protocol == ICMP_PROTOCOLS[0] && self.lanes[0] {
            Lane::Icmp(0)
        } else if protocol == ICMP_PROTOCOLS[1] && self.lanes[1] {
            Lane::Icmp(1)
        } else {
            Lane::Main
        }
    }

    /// The classifier key of a packet for a lane.
    #[inline]
    pub(crate) fn key(&self, lane: Lane, src: A, dst: A, packet: &Packet) -> Key<A> {
        match lane {
            Lane::Main => Key {
                src,
                dst,
                src_port: packet.src_port,
                dst_port: packet.dst_port,
                proto: packet.protocol,
            },
            Lane::Icmp(i) => {
                let classes = &self.icmp[i].classes;
                let dst_port = match classes.len() {
                    0 => packet.dst_port,
                    1 => u16::from(packet.icmp_code),
                    _ => port_class(classes, packet.dst_port) << 8 | u16::from(packet.icmp_code),
                };
                Key {
                    src,
                    dst,
                    src_port: packet.src_port,
                    dst_port,
                    proto: packet.icmp_type,
                }
            }
        }
    }

    #[inline]
    fn sub(&self, lane: Lane) -> &Sub<A> {
        match lane {
            Lane::Main => &self.main,
            Lane::Icmp(i) => &self.icmp[i].sub,
        }
    }

    /// The decision for a classifier answer in a lane.
    #[inline]
    pub(crate) fn answer(&self, lane: Lane, hit: Option<u32>) -> Decision {
        match hit {
            // INVARIANT: `decisions` has one entry per classifier entry; `get` keeps the
            // hot path free of panics all the same.
            Some(i) => self
                .sub(lane)
                .decisions
                .get(i as usize)
                .copied()
                .unwrap_or(self.fallback),
            None => self.fallback,
        }
    }

    /// The decision for a packet whose addresses are `src` and `dst`.
    #[inline]
    pub(crate) fn decide(&self, src: A, dst: A, packet: &Packet) -> Decision {
        let lane = self.lane(packet.protocol);
        let key = self.key(lane, src, dst, packet);
        self.answer(lane, self.sub(lane).classifier.classify(&key))
    }

    /// Classifies keys of one lane.
    #[inline]
    pub(crate) fn classify_batch(&self, lane: Lane, keys: &[Key<A>], out: &mut [Option<u32>]) {
        self.sub(lane).classifier.classify_batch(keys, out);
    }

    /// Bytes of the table, heap included.
    pub(crate) fn memory_usage(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.main.memory_usage()
            + self
                .icmp
                .iter()
                .map(|s| s.sub.memory_usage() + std::mem::size_of_val(&*s.classes))
                .sum::<usize>()
    }

    /// Classifier entries, all lanes.
    pub(crate) fn entries(&self) -> usize {
        self.main.classifier.len() + self.icmp.iter().map(|s| s.sub.classifier.len()).sum::<usize>()
    }
}
