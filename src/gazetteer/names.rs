//! Finding an area by what a file calls it: its P-code or its name, in the spellings that
//! humanitarian datasets use. Pure.
//!
//! A name is compared by its key: lower case, a leading article (`Al-`, `Al `, `El-`, `ال`)
//! dropped, then letters and digits only (`Salah Al-Din`, `salah al din` and `SALAH-AL-DIN`
//! are one key). Besides the English and Arabic names of the gazetteer (and a `names` array an
//! admin file may give each feature), Iraq's governorates are also found by the spellings in
//! `IRAQ_SPELLINGS`, which IOM DTM, OCHA and ACLED files use (`Dahuk`, `Ninawa`, `Babil`, …).

use std::collections::HashMap;

use super::{AdminArea, Gazetteer};

/// Other spellings of Iraq's governorates, by OCHA P-code (as keys, see `key`).
pub const IRAQ_SPELLINGS: &[(&str, &[&str])] = &[
    ("IQG01", &["anbar"]),
    ("IQG02", &["basra", "basrah"]),
    ("IQG03", &["muthana", "muthanna"]),
    ("IQG04", &["najef", "najaf"]),
    (
        "IQG05",
        &[
            "qadisiya",
            "qadisiyah",
            "qadissiyah",
            "qadisiyyah",
            "diwaniya",
            "diwaniyah",
        ],
    ),
    (
        "IQG06",
        &[
            "sulaymaniya",
            "sulaimaniya",
            "sulaimaniyah",
            "slemani",
            "sulaymaniyah",
        ],
    ),
    ("IQG07", &["babil", "babel"]),
    ("IQG09", &["diyalah"]),
    ("IQG10", &["dahuk", "dohuk", "dihok"]),
    ("IQG11", &["arbil", "irbil", "hawler"]),
    ("IQG12", &["karbala", "kerbela"]),
    ("IQG13", &["tameem", "tamim"]),
    ("IQG14", &["maysan", "misan"]),
    (
        "IQG15",
        &["nineveh", "ninawa", "ninevah", "nineva", "ninewah"],
    ),
    (
        "IQG16",
        &[
            "salahaddin",
            "salahuddin",
            "salaheddin",
            "salahadin",
            "saladin",
        ],
    ),
    ("IQG17", &["dhiqar", "thiqar"]),
    ("IQG18", &["wasit", "wassit"]),
];

/// The key a name is compared by.
pub fn key(name: &str) -> String {
    let lower = name.trim().to_lowercase();
    let mut rest = lower.as_str();
    for article in ["al-", "al ", "al_", "el-", "ال"] {
        if let Some(r) = rest.strip_prefix(article) {
            rest = r;
            break;
        }
    }
    rest.chars().filter(|c| c.is_alphanumeric()).collect()
}

/// A P-code as files write it: `IQG10`, `iqg10`, `IQ-G10`.
fn pcode_key(text: &str) -> String {
    text.trim()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// The name index: (level, key) → the areas of that name.
pub(super) fn index(
    areas: &[AdminArea],
    extra: &[Vec<String>],
) -> HashMap<(u8, String), Vec<usize>> {
    let mut index: HashMap<(u8, String), Vec<usize>> = HashMap::new();
    for (i, a) in areas.iter().enumerate() {
        let mut keys: Vec<String> = vec![key(&a.name_en)];
        keys.extend(a.name_ar.as_deref().map(key));
        keys.extend(extra.get(i).into_iter().flatten().map(|n| key(n)));
        if let Some((_, more)) = IRAQ_SPELLINGS.iter().find(|(p, _)| *p == a.pcode) {
            keys.extend(more.iter().map(|m| m.to_string()));
        }
        keys.sort();
        keys.dedup();
        for k in keys.into_iter().filter(|k| !k.is_empty()) {
            index.entry((a.level, k)).or_default().push(i);
        }
    }
    index
}

impl Gazetteer {
    /// The area of `level` that `text` names (a P-code or a name); `within`, the P-code of the
    /// area it lies in, tells apart two areas of the same name. An error says why in words.
    pub fn find(&self, text: &str, level: u8, within: Option<&str>) -> Result<&AdminArea, String> {
        let text = text.trim();
        if let Some(a) = self.get(&pcode_key(text)) {
            if a.level == level {
                return Ok(a);
            }
            return Err(format!(
                "`{text}` is the P-code of a level-{} area, not of a level-{level} one",
                a.level
            ));
        }
        let found: Vec<&AdminArea> = self
            .names
            .get(&(level, key(text)))
            .into_iter()
            .flatten()
            .map(|i| &self.areas[*i])
            .filter(|a| within.is_none() || a.parent.as_deref() == within)
            .collect();
        match found.as_slice() {
            [a] => Ok(a),
            [] => Err(format!(
                "`{text}` is not a level-{level} area of the gazetteer (neither a P-code nor a \
                 name it knows){}",
                within.map(|w| format!(" within {w}")).unwrap_or_default()
            )),
            several => Err(format!(
                "`{text}` names {} level-{level} areas ({}); give the P-code",
                several.len(),
                several
                    .iter()
                    .map(|a| a.pcode.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }

    /// Whether the gazetteer has any area of `level`.
    pub fn has_level(&self, level: u8) -> bool {
        self.areas.iter().any(|a| a.level == level)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn governorates_are_found_by_pcode_and_by_every_usual_spelling() {
        let g = Gazetteer::iraq(25_000.0);
        for (text, pcode) in [
            ("IQG10", "IQG10"),
            ("iq-g10", "IQG10"),
            ("Dahuk", "IQG10"),
            ("Duhok", "IQG10"),
            ("Ninewa", "IQG15"),
            ("NINAWA", "IQG15"),
            ("Salah al-Din", "IQG16"),
            ("Salahuddin", "IQG16"),
            ("Anbar", "IQG01"),
            ("Al-Anbar", "IQG01"),
            ("الأنبار", "IQG01"),
            ("Thi Qar", "IQG17"),
            ("Sulaymaniyah", "IQG06"),
            ("Babil", "IQG07"),
        ] {
            assert_eq!(g.find(text, 1, None).unwrap().pcode, pcode, "{text}");
        }
        let e = g.find("Atlantis", 1, None).unwrap_err();
        assert!(e.contains("`Atlantis`"), "{e}");
        assert!(g.find("IQG10", 2, None).unwrap_err().contains("level-1"));
        assert!(g.has_level(1) && !g.has_level(2));
    }
}
