//! What the rules name: the brands of the rules files with their rule names, the rules
//! every other brand gets, and the metrics all of them use. A silence may name only these
//! (`serve::silences`), so that a typo is refused instead of silencing nothing.

use super::{Rule, RuleSet};
use std::collections::{BTreeMap, BTreeSet};

/// The names a rule set defines.
#[derive(Debug, Clone, Default)]
pub struct Names {
    /// Brand id → (display name, its rule names).
    pub brands: BTreeMap<String, (String, Vec<String>)>,
    /// Rules of brands not in the rules files (first seen in mentions).
    pub default_rules: Vec<String>,
    /// Metrics the rules use (`volume`, `negative`, `reach`, `flatline`).
    pub metrics: BTreeSet<String>,
}

impl Names {
    /// What `rules` define.
    pub fn of(rules: &RuleSet) -> Names {
        let mut metrics = BTreeSet::new();
        let mut names = |list: &[Rule]| -> Vec<String> {
            let mut out = Vec::with_capacity(list.len());
            for r in list {
                metrics.insert(r.detector.kind.metric().to_string());
                out.push(r.name.clone());
            }
            out
        };
        let default_rules = names(&rules.default_rules);
        let brands = rules.brands.iter().map(|b| (b.id.clone(), (b.name.clone(), names(&b.rules)))).collect();
        Names { brands, default_rules, metrics }
    }

    /// The rule names of `brand` (`*`: of every brand; a brand not in the rules files: the
    /// default rules).
    pub fn rules_of(&self, brand: &str) -> BTreeSet<&str> {
        match self.brands.get(brand) {
            Some((_, rules)) => rules.iter().map(String::as_str).collect(),
            None if brand == "*" => self
                .brands
                .values()
                .flat_map(|(_, r)| r.iter())
                .chain(self.default_rules.iter())
                .map(String::as_str)
                .collect(),
            None => self.default_rules.iter().map(String::as_str).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn rules_of_a_brand_every_brand_and_an_unknown_one() {
        let dir = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/rules"));
        let k = super::Names::of(&super::super::load_dir(dir).unwrap());
        assert!(k.rules_of("acme").contains("negative-surge-twitter"));
        assert!(!k.rules_of("lunteck").contains("negative-surge-twitter"));
        assert!(k.rules_of("*").contains("negative-surge-twitter") && k.rules_of("*").contains("volume-spike"));
        assert!(k.rules_of("newco").contains("volume-spike"));
        assert_eq!(
            k.metrics.iter().map(String::as_str).collect::<Vec<_>>(),
            ["flatline", "negative", "reach", "volume"]
        );
    }
}
