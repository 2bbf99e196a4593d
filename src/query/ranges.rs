//! Sets of integers as sorted, disjoint inclusive ranges: the coordinates of the header
//! space (protocol numbers, ports, ICMP type/code, and addresses as `u128`).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Subnets, Ipv6Subnets};
use smallvec::SmallVec;

use crate::rule::{Family, PortRange, Ports};

/// A set of integers: sorted, disjoint, non-adjacent inclusive ranges `[lo, hi]`.
///
/// Addresses are stored as integers: an IPv4 address as its `u32` value, an IPv6 address
/// as its `u128` value; a set only ever holds addresses of one family.
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ranges(SmallVec<[(u128, u128); 1]>);

/// An exact number of values in a [`Ranges`]: from 0 to 2^128 (every IPv6 address), one
/// more than a `u128` holds. It prints as an exact decimal; [`Count::get`] gives it as a
/// `u128` when it fits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Count(Option<u128>); // the count minus one; None is zero

impl Count {
    /// The count as a `u128`, or `None` for 2^128 (the whole IPv6 space).
    pub fn get(self) -> Option<u128> {
        match self.0 {
            None => Some(0),
            Some(m) => m.checked_add(1),
        }
    }
}

impl PartialEq<u128> for Count {
    fn eq(&self, other: &u128) -> bool {
        self.get() == Some(*other)
    }
}

impl fmt::Display for Count {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.get() {
            Some(n) => write!(f, "{n}"),
            None => f.write_str("340282366920938463463374607431768211456"),
        }
    }
}

impl Ranges {
    /// The empty set.
    pub fn empty() -> Ranges {
        Ranges(SmallVec::new())
    }

    /// The set `lo..=hi`, empty when `lo > hi`.
    pub fn range(lo: u128, hi: u128) -> Ranges {
        if lo > hi {
            return Ranges::empty();
        }
        let mut v = SmallVec::new();
        v.push((lo, hi));
        Ranges(v)
    }

    /// The single value `v`.
    pub fn single(v: u128) -> Ranges {
        Ranges::range(v, v)
    }

    /// The set of the given ranges (any order, may overlap; ranges with `lo > hi` are
    /// ignored).
    pub fn from_ranges(ranges: impl IntoIterator<Item = (u128, u128)>) -> Ranges {
        let mut v: SmallVec<[(u128, u128); 1]> = ranges.into_iter().filter(|(lo, hi)| lo <= hi).collect();
        v.sort_unstable();
        let mut out: SmallVec<[(u128, u128); 1]> = SmallVec::with_capacity(v.len());
        for (lo, hi) in v {
            match out.last_mut() {
                Some(last) if last.1 == u128::MAX || lo <= last.1 + 1 => last.1 = last.1.max(hi),
                _ => out.push((lo, hi)),
            }
        }
        Ranges(out)
    }

    /// The ranges, ascending.
    pub fn iter(&self) -> impl Iterator<Item = (u128, u128)> + '_ {
        self.0.iter().copied()
    }

    /// How many ranges.
    pub fn range_count(&self) -> usize {
        self.0.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The smallest value.
    pub fn first(&self) -> Option<u128> {
        self.0.first().map(|r| r.0)
    }

    /// The largest value.
    pub fn last(&self) -> Option<u128> {
        self.0.last().map(|r| r.1)
    }

    /// How many values, exactly (the whole IPv6 space holds 2^128).
    pub fn count(&self) -> Count {
        // INVARIANT: the ranges are disjoint subsets of 0..=u128::MAX, so their sizes add
        // up to at most 2^128 and the sum minus one always fits in a u128.
        let minus_one = self.0.iter().fold(None, |acc: Option<u128>, &(lo, hi)| {
            let size_minus_one = hi - lo;
            Some(match acc {
                None => size_minus_one,
                Some(a) => a + size_minus_one + 1,
            })
        });
        Count(minus_one)
    }

    /// Whether `v` is in the set.
    pub fn contains(&self, v: u128) -> bool {
        let i = self.0.partition_point(|r| r.1 < v);
        i < self.0.len() && self.0[i].0 <= v
    }

    /// Whether the whole range `lo..=hi` is in the set.
    pub fn contains_range(&self, lo: u128, hi: u128) -> bool {
        let i = self.0.partition_point(|r| r.1 < lo);
        // INVARIANT: ranges are non-adjacent, so a covered range lies inside one of them.
        i < self.0.len() && self.0[i].0 <= lo && hi <= self.0[i].1
    }

    /// Whether some value of `lo..=hi` is in the set.
    pub fn intersects_range(&self, lo: u128, hi: u128) -> bool {
        let i = self.0.partition_point(|r| r.1 < lo);
        i < self.0.len() && self.0[i].0 <= hi
    }

    /// Whether every value of `other` is in `self`.
    pub fn is_superset(&self, other: &Ranges) -> bool {
        other.0.iter().all(|&(lo, hi)| self.contains_range(lo, hi))
    }

    /// Whether the two sets share a value.
    pub fn intersects(&self, other: &Ranges) -> bool {
        let (mut i, mut j) = (0, 0);
        while i < self.0.len() && j < other.0.len() {
            let (a, b) = (self.0[i], other.0[j]);
            if a.1 < b.0 {
                i += 1;
            } else if b.1 < a.0 {
                j += 1;
            } else {
                return true;
            }
        }
        false
    }

    /// The values in both sets.
    pub fn intersect(&self, other: &Ranges) -> Ranges {
        let mut out = SmallVec::new();
        let (mut i, mut j) = (0, 0);
        while i < self.0.len() && j < other.0.len() {
            let (a, b) = (self.0[i], other.0[j]);
            let lo = a.0.max(b.0);
            let hi = a.1.min(b.1);
            if lo <= hi {
                out.push((lo, hi));
            }
            if a.1 < b.1 {
                i += 1;
            } else {
                j += 1;
            }
        }
        Ranges(out)
    }

    /// The values in either set.
    pub fn union(&self, other: &Ranges) -> Ranges {
        Ranges::from_ranges(self.iter().chain(other.iter()))
    }

    /// The values of `self` not in `other`.
    pub fn subtract(&self, other: &Ranges) -> Ranges {
        let mut out = SmallVec::new();
        for (lo, hi) in self.iter() {
            let mut start = lo;
            let mut open = true;
            for (olo, ohi) in other.iter() {
                if ohi < start {
                    continue;
                }
                if olo > hi {
                    break;
                }
                if olo > start {
                    out.push((start, olo - 1));
                }
                if ohi >= hi {
                    open = false;
                    break;
                }
                start = ohi + 1;
            }
            if open {
                out.push((start, hi));
            }
        }
        Ranges(out)
    }

    /// Appends a range that starts after every range in the set (merging when adjacent).
    pub(crate) fn push_after(&mut self, lo: u128, hi: u128) {
        match self.0.last_mut() {
            Some(last) if last.1 != u128::MAX && last.1 + 1 == lo => last.1 = hi,
            _ => self.0.push((lo, hi)),
        }
    }

    /// The ports of a [`Ports`] set.
    pub fn from_ports(ports: &Ports) -> Ranges {
        Ranges::from_ranges(ports.0.iter().map(|r| (r.lo as u128, r.hi as u128)))
    }

    /// The set as port ranges (values above 65535 are dropped).
    pub fn to_port_ranges(&self) -> Vec<PortRange> {
        self.iter()
            .filter(|&(lo, _)| lo <= 65535)
            .map(|(lo, hi)| PortRange {
                lo: lo as u16,
                hi: hi.min(65535) as u16,
            })
            .collect()
    }

    /// Every address of a family.
    pub fn family(family: Family) -> Ranges {
        Ranges::range(0, family_max(family))
    }

    /// The addresses of a prefix, or nothing when the prefix is of another family.
    pub fn from_net(net: &IpNet, family: Family) -> Ranges {
        if Family::of_net(net) != family {
            return Ranges::empty();
        }
        Ranges::range(addr_value(net.network()), addr_value(net.broadcast()))
    }

    /// The set as the fewest CIDR prefixes of `family`.
    pub fn to_cidrs(&self, family: Family) -> Vec<IpNet> {
        let mut out = Vec::new();
        for (lo, hi) in self.iter() {
            match family {
                Family::V4 => {
                    let lo = Ipv4Addr::from(lo.min(u32::MAX as u128) as u32);
                    let hi = Ipv4Addr::from(hi.min(u32::MAX as u128) as u32);
                    out.extend(Ipv4Subnets::new(lo, hi, 0).map(IpNet::V4));
                }
                Family::V6 => {
                    out.extend(Ipv6Subnets::new(Ipv6Addr::from(lo), Ipv6Addr::from(hi), 0).map(IpNet::V6));
                }
            }
        }
        out
    }
}

impl fmt::Debug for Ranges {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.0.iter()).finish()
    }
}

/// The largest address value of a family.
pub(crate) fn family_max(family: Family) -> u128 {
    match family {
        Family::V4 => u32::MAX as u128,
        Family::V6 => u128::MAX,
    }
}

/// An address as an integer (IPv4 as its `u32` value).
pub(crate) fn addr_value(addr: IpAddr) -> u128 {
    match addr {
        IpAddr::V4(a) => u32::from(a) as u128,
        IpAddr::V6(a) => u128::from(a),
    }
}

/// The address of an integer in a family (IPv4 values above `u32::MAX` saturate).
pub(crate) fn value_addr(v: u128, family: Family) -> IpAddr {
    match family {
        Family::V4 => IpAddr::V4(Ipv4Addr::from(v.min(u32::MAX as u128) as u32)),
        Family::V6 => IpAddr::V6(Ipv6Addr::from(v)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(v: &[(u128, u128)]) -> Ranges {
        Ranges::from_ranges(v.iter().copied())
    }

    #[test]
    fn from_ranges_merges_overlapping_and_adjacent() {
        assert_eq!(
            r(&[(5, 9), (1, 3), (4, 4), (20, 30), (25, 26)]),
            r(&[(1, 9), (20, 30)])
        );
        assert_eq!(r(&[(0, u128::MAX), (3, 4)]), Ranges::range(0, u128::MAX));
    }

    #[test]
    fn subtract_and_intersect_agree_with_membership() {
        let a = r(&[(0, 10), (20, 30), (40, u128::MAX)]);
        let b = r(&[(5, 22), (30, 45)]);
        let diff = a.subtract(&b);
        let both = a.intersect(&b);
        for v in (0..60).chain([u128::MAX - 1, u128::MAX]) {
            assert_eq!(diff.contains(v), a.contains(v) && !b.contains(v), "{v}");
            assert_eq!(both.contains(v), a.contains(v) && b.contains(v), "{v}");
            assert_eq!(a.union(&b).contains(v), a.contains(v) || b.contains(v), "{v}");
        }
        assert!(a.intersects(&b));
        assert!(!r(&[(0, 4)]).intersects(&r(&[(5, 9)])));
        assert!(a.is_superset(&r(&[(41, 50)])));
        assert!(!a.is_superset(&r(&[(9, 12)])));
    }

    #[test]
    fn cidrs_cover_the_range_exactly() {
        let set = Ranges::range(
            addr_value("10.0.0.3".parse().unwrap()),
            addr_value("10.0.0.17".parse().unwrap()),
        );
        let nets: Vec<String> = set.to_cidrs(Family::V4).iter().map(|n| n.to_string()).collect();
        assert_eq!(
            nets,
            ["10.0.0.3/32", "10.0.0.4/30", "10.0.0.8/29", "10.0.0.16/31"]
        );
        assert_eq!(
            Ranges::family(Family::V6).to_cidrs(Family::V6)[0].to_string(),
            "::/0"
        );
        assert_eq!(
            Ranges::family(Family::V6).count().to_string(),
            "340282366920938463463374607431768211456"
        );
        assert_eq!(Ranges::family(Family::V6).count().get(), None);
        assert_eq!(Ranges::family(Family::V4).count(), 1u128 << 32);
        assert_eq!(Ranges::empty().count(), 0);
        let halves = Ranges::from_ranges([(0, u128::MAX / 2), (u128::MAX / 2 + 2, u128::MAX)]);
        assert_eq!(
            halves.count().to_string(),
            "340282366920938463463374607431768211455"
        );
    }
}
