//! Which tenants run, and in what order: CI sharding and ring-by-ring waves. Pure.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use crate::dsl::Tenant;

/// `--shard INDEX/TOTAL`, 0-based like CircleCI's `CIRCLE_NODE_INDEX`/`CIRCLE_NODE_TOTAL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub total: u32,
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let shape = || {
            format!(
                "`{s}` is not INDEX/TOTAL: write the 0-based shard index and the number of shards, \
                 e.g. `--shard 0/4` (in CircleCI: `--shard $CIRCLE_NODE_INDEX/$CIRCLE_NODE_TOTAL`)"
            )
        };
        let (index, total) = s.split_once('/').ok_or_else(shape)?;
        let (Ok(index), Ok(total)) = (index.trim().parse::<u32>(), total.trim().parse::<u32>())
        else {
            return Err(shape());
        };
        if total == 0 {
            return Err(format!(
                "`{s}`: TOTAL must be at least 1, e.g. `--shard 0/1` for a single container or `--shard 0/4`"
            ));
        }
        if index >= total {
            return Err(format!(
                "`{s}`: INDEX must be less than TOTAL because it counts from 0; \
                 the shards of {total} are `--shard 0/{total}` to `--shard {}/{total}`",
                total - 1
            ));
        }
        Ok(Shard { index, total })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.total)
    }
}

/// Tenants sorted by name, each name once: the one order every machine agrees on, whatever
/// order the command line or the directory listing gave.
fn by_name<'a>(tenants: &[&'a Tenant]) -> Vec<&'a Tenant> {
    let mut sorted = tenants.to_vec();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    // Naming a tenant twice must not deploy it twice (the second would fight the first's lock).
    sorted.dedup_by(|a, b| a.name == b.name);
    sorted
}

/// A stable, balanced subset: tenant names sorted; the tenant at position `i` of that order
/// belongs to shard `i % total`.
///
/// Same on every machine; every tenant in exactly one shard; sizes differ by at most one.
/// Round-robin rather than contiguous blocks so each shard gets a spread of the alphabet and
/// adding one tenant moves few others. Returned in name order.
pub fn shard<'a>(tenants: &[&'a Tenant], shard: Shard) -> Vec<&'a Tenant> {
    // A `Shard` built by hand with total 0 would divide by zero; treat it as one shard.
    let total = usize::try_from(shard.total.max(1)).unwrap_or(usize::MAX);
    let index = usize::try_from(shard.index).unwrap_or(usize::MAX);
    by_name(tenants)
        .into_iter()
        .enumerate()
        .filter(|(i, _)| i % total == index)
        .map(|(_, t)| t)
        .collect()
}

/// One ring's tenants: they may deploy together, and the next ring waits for them.
#[derive(Debug, Clone)]
pub struct Wave<'a> {
    pub ring: String,
    pub tenants: Vec<&'a Tenant>,
}

/// Tenants grouped by ring in `rings` (`project.rings`) order, sorted by name inside a ring;
/// `only_ring` keeps that ring alone.
///
/// Rings with no selected tenant are left out. A tenant whose ring is not in `rings` (loading
/// rejects that, so only a hand-built tenant can) goes in a wave after the known rings rather
/// than being dropped: a tenant silently never deployed is worse than one deployed last.
pub fn waves<'a>(
    rings: &[String],
    tenants: &[&'a Tenant],
    only_ring: Option<&str>,
) -> Vec<Wave<'a>> {
    let mut by_ring: BTreeMap<&str, Vec<&'a Tenant>> = BTreeMap::new();
    for t in by_name(tenants) {
        if only_ring.is_none_or(|r| r == t.ring) {
            by_ring.entry(t.ring.as_str()).or_default().push(t);
        }
    }
    let mut out = Vec::with_capacity(by_ring.len());
    for ring in rings {
        if let Some(tenants) = by_ring.remove(ring.as_str()) {
            out.push(Wave {
                ring: ring.clone(),
                tenants,
            });
        }
    }
    out.extend(by_ring.into_iter().map(|(ring, tenants)| Wave {
        ring: ring.to_owned(),
        tenants,
    }));
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::BTreeSet;
    use std::sync::LazyLock;

    use proptest::prelude::*;

    use super::*;
    use crate::dsl::Fleet;
    use crate::fleet::testing::fleet;

    /// 40 tenants, loaded once for every property case.
    static BIG: LazyLock<Fleet> = LazyLock::new(|| {
        let names: Vec<String> = (0..40).map(|i| format!("t{:02}", (i * 17) % 40)).collect();
        let spec: Vec<(&str, &str, &str)> =
            names.iter().map(|n| (n.as_str(), "stable", "")).collect();
        fleet(&spec)
    });

    fn names(ts: &[&Tenant]) -> Vec<String> {
        ts.iter().map(|t| t.name.clone()).collect()
    }

    #[test]
    fn shard_parses() {
        assert_eq!("1/4".parse(), Ok(Shard { index: 1, total: 4 }));
        assert_eq!(" 0/1 ".parse(), Ok(Shard { index: 0, total: 1 }));
        assert_eq!(Shard { index: 3, total: 4 }.to_string(), "3/4");
    }

    #[test]
    fn shard_errors_say_what_to_write() {
        let e = "4/4".parse::<Shard>().unwrap_err();
        assert!(e.contains("less than TOTAL"), "{e}");
        assert!(e.contains("from 0"), "{e}");
        assert!(e.contains("`--shard 3/4`"), "{e}");

        let e = "1/0".parse::<Shard>().unwrap_err();
        assert!(e.contains("at least 1"), "{e}");
        assert!(e.contains("`--shard 0/4`"), "{e}");

        for bad in ["a/b", "3", "-1/4", "1/4/2", ""] {
            let e = bad.parse::<Shard>().unwrap_err();
            assert!(e.contains("INDEX/TOTAL"), "{bad}: {e}");
            assert!(e.contains("`--shard 0/4`"), "{bad}: {e}");
        }
    }

    #[test]
    fn shard_is_round_robin_over_sorted_names() {
        let f = fleet(&[
            ("delta", "stable", ""),
            ("alpha", "stable", ""),
            ("echo", "stable", ""),
            ("charlie", "stable", ""),
            ("bravo", "stable", ""),
        ]);
        let all: Vec<&Tenant> = f.tenants.iter().rev().collect();
        let s = |index| names(&shard(&all, Shard { index, total: 2 }));
        assert_eq!(s(0), ["alpha", "charlie", "echo"]);
        assert_eq!(s(1), ["bravo", "delta"]);
        // Naming a tenant twice does not put it in a shard twice.
        let twice = [all[0], all[0]];
        assert_eq!(
            names(&shard(&twice, Shard { index: 0, total: 1 })),
            ["echo"]
        );
    }

    proptest! {
        #[test]
        fn shards_partition_the_fleet(
            picked in proptest::collection::vec(any::<bool>(), 40),
            order in Just((0..40usize).collect::<Vec<_>>()).prop_shuffle(),
            total in 1u32..=16,
        ) {
            let fleet = &*BIG;
            let chosen: Vec<&Tenant> = order
                .iter()
                .filter(|&&i| picked[i])
                .map(|&i| &fleet.tenants[i])
                .collect();
            let mut sorted = chosen.clone();
            sorted.sort_by(|a, b| a.name.cmp(&b.name));

            let mut seen = BTreeSet::new();
            let mut sizes = Vec::new();
            for index in 0..total {
                let s = Shard { index, total };
                let part = shard(&chosen, s);
                // Independent of the order the tenants came in.
                prop_assert_eq!(names(&part), names(&shard(&sorted, s)));
                for t in &part {
                    prop_assert!(seen.insert(t.name.clone()), "{} in two shards", t.name);
                }
                sizes.push(part.len());
            }
            prop_assert_eq!(seen.len(), chosen.len());
            let (min, max) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
            prop_assert!(max - min <= 1, "sizes {:?}", sizes);
        }
    }

    #[test]
    fn waves_follow_ring_order_then_names() {
        let f = fleet(&[
            ("zeta", "canary", ""),
            ("beta", "stable", ""),
            ("alpha", "stable", ""),
            ("gamma", "canary", ""),
        ]);
        let all: Vec<&Tenant> = f.tenants.iter().rev().collect();
        let w = waves(&f.project.rings, &all, None);
        let got: Vec<(String, Vec<String>)> = w
            .iter()
            .map(|w| (w.ring.clone(), names(&w.tenants)))
            .collect();
        // `early` has no tenant, so no wave.
        assert_eq!(
            got,
            [
                (
                    "canary".to_owned(),
                    vec!["gamma".to_owned(), "zeta".to_owned()]
                ),
                (
                    "stable".to_owned(),
                    vec!["alpha".to_owned(), "beta".to_owned()]
                ),
            ]
        );

        let only = waves(&f.project.rings, &all, Some("stable"));
        assert_eq!(only.len(), 1);
        assert_eq!(only[0].ring, "stable");
        assert_eq!(names(&only[0].tenants), ["alpha", "beta"]);
        assert!(waves(&f.project.rings, &all, Some("early")).is_empty());
    }

    #[test]
    fn a_ring_missing_from_the_project_still_deploys_last() {
        let f = fleet(&[("alpha", "canary", ""), ("beta", "stable", "")]);
        let all: Vec<&Tenant> = f.tenants.iter().collect();
        let rings = vec!["stable".to_owned()];
        let w = waves(&rings, &all, None);
        assert_eq!(w.len(), 2);
        assert_eq!(
            (w[0].ring.as_str(), w[1].ring.as_str()),
            ("stable", "canary")
        );
    }
}
