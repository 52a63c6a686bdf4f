//! The words of a report in English and Arabic. Vocabulary terms (event types, categories,
//! alert kinds) come from the pages' translations (`web/i18n/*.json`, keys `term.NAME`), so a
//! report names a thing as the pages do.

use std::collections::HashMap;
use std::sync::LazyLock;

use crate::document::Lang;

/// Every word a report uses: (key, English, Arabic). The Arabic is written without short-vowel
/// marks (as reports are), which PDF text extraction and search would otherwise split, and its
/// sentences name counts as "N من ..." (N of the ...), which reads right whatever N is, with a
/// word after each figure so that it extracts in reading order.
const WORDS: &[(&str, &str, &str)] = &[
    ("daily", "Daily situation report", "تقرير الحالة اليومي"),
    ("weekly", "Weekly situation report", "تقرير الحالة الأسبوعي"),
    ("monthly", "Monthly situation report", "تقرير الحالة الشهري"),
    ("period", "Period", "الفترة"),
    ("audience", "For", "الجمهور المستهدف"),
    ("made_from", "Made from the log at sequence", "أعد من السجل حتى الرقم التسلسلي"),
    ("report", "Report", "التقرير"),
    ("footer_note", "Every figure links to the items behind it (appendix).", "كل رقم مرتبط بالعناصر التي يستند إليها (الملحق)."),
    ("highlights", "Highlights", "أبرز المستجدات"),
    ("key_figures", "Key figures", "الأرقام الرئيسية"),
    ("incidents", "Incidents", "الحوادث"),
    ("fatalities", "Fatalities", "الوفيات"),
    ("previous", "Previous period", "الفترة السابقة"),
    ("change", "Change", "التغير"),
    ("by_type", "Incidents by type", "الحوادث حسب النوع"),
    ("by_area", "Incidents by governorate", "الحوادث حسب المحافظة"),
    ("type", "Type", "النوع"),
    ("governorate", "Governorate", "المحافظة"),
    ("unknown", "Not known", "غير معروف"),
    ("outside", "Outside the governorates", "خارج المحافظات"),
    ("hidden", "Not shared", "غير متاح"),
    ("constraints", "Access constraints", "قيود الوصول"),
    ("category", "Category", "الفئة"),
    ("opened", "Opened", "فرضت"),
    ("closed", "Lifted", "رفعت"),
    ("in_force", "In force at the end", "سارية في نهاية الفترة"),
    ("movements", "Humanitarian movements", "التحركات الإنسانية"),
    ("notified", "Notified", "تم الإشعار بها"),
    ("acknowledged", "Acknowledged", "تم الإقرار بها"),
    ("completed", "Completed", "اكتملت"),
    ("aborted", "Aborted", "ألغيت أثناء التنفيذ"),
    ("ack_median", "Median time to acknowledge", "الوقت الوسيط للإقرار"),
    ("ack_max", "Longest time to acknowledge", "أطول وقت للإقرار"),
    ("hours", "h", "ساعة"),
    ("minutes", "min", "دقيقة"),
    ("movement", "Movement", "التحرك"),
    ("reason", "Reason given", "السبب المذكور"),
    ("no_reason", "No reason given", "لم يذكر سبب"),
    ("alerts", "Alerts raised", "التنبيهات الصادرة"),
    ("kind", "Kind", "النوع"),
    ("count", "Count", "العدد"),
    ("displacement", "Displacement", "النزوح"),
    ("arrivals", "Arrivals", "الوافدون"),
    ("returns", "Returns", "العائدون"),
    ("departures", "Departures", "المغادرون"),
    ("present", "Total at the end", "المجموع في نهاية الفترة"),
    ("individuals", "individuals", "فردا"),
    ("notable", "Notable incidents", "حوادث بارزة"),
    ("map", "Map of the period", "خريطة الفترة"),
    ("map_caption", "Incidents (dots, by severity), constraints in force (squares) and movement routes (lines) in the period", "الحوادث (نقاط حسب الشدة) والقيود السارية (مربعات) ومسارات التحركات (خطوط) خلال الفترة"),
    ("map_grouped", "(grouped: one circle per cell of the map, its area by the number of incidents, its colour the most severe, its number written when large enough).", "(مجمعة: دائرة واحدة لكل خلية من الخريطة، مساحتها بحسب عدد الحوادث ولونها بحسب أشدها، ويكتب عددها إذا اتسعت له)."),
    ("chart_incidents", "Incidents per day", "الحوادث يوميا"),
    ("chart_ack", "Time to acknowledge each notified movement (hours)", "مدة الإقرار بكل تحرك تم الإشعار به (بالساعات)"),
    ("chart_displacement", "Arrivals and returns per day", "الوافدون والعائدون يوميا"),
    ("appendix", "Appendix: items behind each figure", "ملحق: العناصر التي تستند إليها الأرقام"),
    ("more_ids", "… and {n} more, listed in the HTML edition of this report.", "… و{n} غيرها، مدرجة في نسخة HTML من هذا التقرير."),
    ("none", "None in the period.", "لا شيء خلال الفترة."),
    ("total", "Total", "المجموع"),
    ("exercise", "exercise", "تمرين"),
    ("h_incidents", "{n} incidents were recorded ({prev} in the previous period), with {f} fatalities.", "سجلت {n} من الحوادث مقابل {prev} في الفترة السابقة، وبلغ عدد الوفيات {f} في هذه الفترة."),
    ("h_top_area", "Most incidents were in {area} ({n}).", "وقعت معظم الحوادث في {area} ({n})."),
    ("h_constraints", "{opened} access constraints were opened and {closed} lifted; {force} were in force at the end of the period.", "فرض {opened} من قيود الوصول ورفع {closed} منها خلال الفترة، وبقي {force} منها ساريا في نهايتها."),
    ("h_movements", "{notified} movements were notified and {ack} acknowledged; {done} completed and {aborted} were aborted.", "تم الإشعار بـ {notified} من التحركات والإقرار بـ {ack} منها، واكتمل {done} منها وألغي {aborted} أثناء التنفيذ."),
    ("h_alerts", "{n} convoy alerts were raised.", "صدر {n} من تنبيهات القوافل خلال الفترة."),
    ("h_displacement", "{arr} arrivals and {ret} returns were reported.", "أبلغ عن وصول {arr} من الوافدين وعودة {ret} من العائدين."),
];

static TABLE: LazyLock<HashMap<&'static str, (&'static str, &'static str)>> =
    LazyLock::new(|| WORDS.iter().map(|(k, en, ar)| (*k, (*en, *ar))).collect());

fn terms(lang: Lang) -> &'static HashMap<String, String> {
    static EN: LazyLock<HashMap<String, String>> =
        LazyLock::new(|| parse(include_str!("../../web/i18n/en.json")));
    static AR: LazyLock<HashMap<String, String>> =
        LazyLock::new(|| parse(include_str!("../../web/i18n/ar.json")));
    match lang {
        Lang::En => &EN,
        Lang::Ar => &AR,
    }
}

fn parse(text: &str) -> HashMap<String, String> {
    serde_json::from_str::<HashMap<String, serde_json::Value>>(text)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(k, v)| Some((k, v.as_str()?.to_string())))
        .collect()
}

/// A report word. Panics in tests for an unknown key (every key is checked).
pub fn w(lang: Lang, key: &str) -> &'static str {
    match TABLE.get(key) {
        Some((en, ar)) => match lang {
            Lang::En => en,
            Lang::Ar => ar,
        },
        None => {
            debug_assert!(false, "no report word `{key}`");
            ""
        }
    }
}

/// A report sentence with `{name}` parameters filled in.
pub fn fill(lang: Lang, key: &str, params: &[(&str, String)]) -> String {
    let mut s = w(lang, key).to_string();
    for (k, v) in params {
        s = s.replace(&format!("{{{k}}}"), v);
    }
    s
}

/// A vocabulary value as the pages name it (`term.VALUE`), else the value with spaces.
pub fn term(lang: Lang, value: &str) -> String {
    match terms(lang).get(&format!("term.{value}")) {
        Some(t) => t.clone(),
        None => value.replace('_', " "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_word_has_both_languages_and_the_same_parameters() {
        for (k, en, ar) in WORDS {
            assert!(!en.is_empty() && !ar.is_empty(), "{k}");
            let params = |s: &str| {
                let mut v: Vec<String> = s
                    .split('{')
                    .skip(1)
                    .filter_map(|p| p.split_once('}').map(|(n, _)| n.to_string()))
                    .collect();
                v.sort();
                v
            };
            assert_eq!(params(en), params(ar), "{k}");
        }
        assert_eq!(TABLE.len(), WORDS.len(), "no key twice");
    }

    #[test]
    fn terms_come_from_the_pages_translations() {
        assert_eq!(term(Lang::En, "battles"), "battles");
        assert_ne!(term(Lang::Ar, "battles"), "battles");
        assert_eq!(term(Lang::Ar, "no_such_term"), "no such term");
    }
}
