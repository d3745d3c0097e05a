//! The fixed wording of the messages people read (email, Telegram, Slack, Teams), in each language
//! a receiver can ask for (`lang`). Placeholders in braces (`{brand}`, `{n}`) are filled by
//! [`fill`]; the rest is said the way a comms team in that language would say it (short,
//! plain, no calques), and right-to-left languages are marked as such by the renderers.
//! Category names, rule names and post texts are not translated.

use super::locale::Lang;
use serde::Serialize;

/// Every fixed phrase of a message.
#[derive(Debug, Serialize)]
pub struct Words {
    /// "mentions"
    pub mentions: &'static str,
    /// "negative mentions"
    pub negative_mentions: &'static str,
    /// "mentions by large accounts"
    pub large_accounts: &'static str,
    /// `{what}` `{ratio}` times the usual, `{count}` in `{minutes}` minutes.
    pub times_usual: &'static str,
    /// `{what}` `{pct}` percent above usual, `{count}` in `{minutes}` minutes.
    pub percent_above: &'static str,
    /// `{what}` far above usual, `{count}` in `{minutes}` minutes.
    pub far_above: &'static str,
    /// `{what}` back to usual.
    pub back_to_usual: &'static str,
    /// Mentions stopped, `{minutes}` minutes of silence.
    pub stopped: &'static str,
    /// The chance under the usual pattern: about 1 in `{n}`.
    pub odds: &'static str,
    /// Less than 1 in a trillion.
    pub odds_tiny: &'static str,
    /// "million"
    pub million: &'static str,
    /// "billion"
    pub billion: &'static str,
    /// A new incident: `{brand}`, `{headline}`.
    pub summary_alert: &'static str,
    /// An escalation: `{brand}`, `{severity}`, `{headline}`.
    pub summary_escalated: &'static str,
    /// A resolution: `{rule}`, `{brand}`, `{headline}`.
    pub summary_resolved: &'static str,
    /// "critical"
    pub critical: &'static str,
    /// "warning"
    pub warning: &'static str,
    /// "watch"
    pub watch: &'static str,
    /// "RESOLVED"
    pub resolved: &'static str,
    /// "Observed"
    pub observed: &'static str,
    /// "usually about"
    pub usually_about: &'static str,
    /// "usually"
    pub usually: &'static str,
    /// "How unusual"
    pub how_unusual: &'static str,
    /// "Negative share now"
    pub negative_share_now: &'static str,
    /// "negative share"
    pub negative_share: &'static str,
    /// "Category"
    pub category: &'static str,
    /// "Respond by"
    pub respond_by: &'static str,
    /// "Top posts"
    pub top_posts: &'static str,
    /// "(none kept)"
    pub none_kept: &'static str,
    /// "followers"
    pub followers: &'static str,
    /// One post re-shared `{n}` times.
    pub reshared: &'static str,
    /// "Top terms"
    pub top_terms: &'static str,
    /// "Sources"
    pub sources: &'static str,
    /// The heading of the suggested replies, with the rules of a first response.
    pub responses: &'static str,
    /// "Suggested first reply"
    pub suggested_reply: &'static str,
    /// "Also open"
    pub also_open: &'static str,
    /// The acknowledge link's label.
    pub ack_link: &'static str,
    /// "Open in dashboard"
    pub open_dashboard: &'static str,
    /// "Open the incident"
    pub open_incident: &'static str,
    /// "Incident"
    pub incident: &'static str,
    /// "rule"
    pub rule: &'static str,
    /// "Severity"
    pub severity: &'static str,
    /// Button: "Acknowledge"
    pub acknowledge: &'static str,
    /// Button: "Escalate now"
    pub escalate_now: &'static str,
    /// Button: "Mute 1h"
    pub mute_1h: &'static str,
    /// After a button press: "Acknowledged by `{who}`"
    pub acked_by: &'static str,
    /// After a button press: "Escalated by `{who}`"
    pub escalated_by: &'static str,
    /// After a button press: "Muted for 1 h by `{who}`"
    pub muted_by: &'static str,
    /// A button press that could not act: "Not done: `{reason}`"
    pub not_done: &'static str,
    /// "Window" (the incident's time window)
    pub window: &'static str,
    /// The chart's description.
    pub chart_alt: &'static str,
    /// "TEST" (a test message's status, upper case where the script has it)
    pub test: &'static str,
    /// An escalation's status: "ESCALATED to `{severity}`" (the severity in upper case).
    pub escalated_to: &'static str,
    /// "Usual" (the usual count, as a label)
    pub usual: &'static str,
    /// "Chance" (the odds under the usual pattern, as a label)
    pub chance: &'static str,
    /// Button: "Open post"
    pub open_post: &'static str,
    /// The heading of the suggested first replies, short: "Suggested first replies (drafts)"
    pub drafts: &'static str,
    /// The brand's other open incidents: `{rules}`.
    pub also_open_brand: &'static str,
    /// Said when a message has no links because `[notify] public_url` cannot be opened.
    pub no_links: &'static str,
}

const EN: Words = Words {
    mentions: "mentions",
    negative_mentions: "negative mentions",
    large_accounts: "mentions by large accounts",
    times_usual: "{what} {ratio}x usual ({count} in {minutes} min)",
    percent_above: "{what} {pct}% above usual ({count} in {minutes} min)",
    far_above: "{what} far above usual ({count} in {minutes} min)",
    back_to_usual: "{what} back to usual",
    stopped: "mentions stopped ({minutes} min of silence)",
    odds: "about a 1-in-{n} chance under the usual pattern",
    odds_tiny: "less than a one-in-a-trillion chance under the usual pattern",
    million: "million",
    billion: "billion",
    summary_alert: "{brand} is getting unusual attention: {headline}, and it is statistically real, not noise.",
    summary_escalated: "The incident for {brand} got worse ({severity}): {headline}.",
    summary_resolved: "The {rule} incident for {brand} is over: {headline}.",
    critical: "critical",
    warning: "warning",
    watch: "watch",
    resolved: "RESOLVED",
    observed: "Observed",
    usually_about: "usually about",
    usually: "usually",
    how_unusual: "How unusual",
    negative_share_now: "Negative share now",
    negative_share: "negative share",
    category: "Category",
    respond_by: "Respond by",
    top_posts: "Top posts",
    none_kept: "(none kept)",
    followers: "followers",
    reshared: "1 post re-shared {n} times",
    top_terms: "Top terms",
    sources: "Sources",
    responses:
        "Suggested first responses (reply in the same channel; never delete or hide criticism; verify facts first)",
    suggested_reply: "Suggested first reply",
    also_open: "Also open",
    ack_link: "Acknowledge (works once, expires)",
    open_dashboard: "Open in dashboard",
    open_incident: "Open the incident",
    incident: "Incident",
    rule: "rule",
    severity: "Severity",
    acknowledge: "Acknowledge",
    escalate_now: "Escalate now",
    mute_1h: "Mute 1h",
    acked_by: "Acknowledged by {who}",
    escalated_by: "Escalated by {who}",
    muted_by: "Muted for 1 h by {who}",
    not_done: "Not done: {reason}",
    window: "Window",
    chart_alt: "mentions per minute, last 24 hours, with the usual band",
    test: "TEST",
    escalated_to: "ESCALATED to {severity}",
    usual: "Usual",
    chance: "Chance",
    open_post: "Open post",
    drafts: "Suggested first replies (drafts)",
    also_open_brand: "Also open for this brand: {rules}",
    no_links: "No links: [notify] public_url is not an address people can open.",
};

const HE: Words = Words {
    mentions: "אזכורים",
    negative_mentions: "אזכורים שליליים",
    large_accounts: "אזכורים מחשבונות גדולים",
    times_usual: "{what}: פי {ratio} מהרגיל ({count} ב-{minutes} דק׳)",
    percent_above: "{what}: {pct}% מעל הרגיל ({count} ב-{minutes} דק׳)",
    far_above: "{what}: הרבה מעל הרגיל ({count} ב-{minutes} דק׳)",
    back_to_usual: "{what}: חזרו לרגיל",
    stopped: "האזכורים נעצרו ({minutes} דק׳ של שקט)",
    odds: "סיכוי של בערך 1 ל-{n} אם הכול כרגיל",
    odds_tiny: "סיכוי של פחות מ-1 לטריליון אם הכול כרגיל",
    million: "מיליון",
    billion: "מיליארד",
    summary_alert: "{brand} מקבל תשומת לב חריגה: {headline}. זה אמיתי סטטיסטית, לא רעש.",
    summary_escalated: "האירוע של {brand} החמיר ({severity}): {headline}.",
    summary_resolved: "האירוע ({rule}) של {brand} הסתיים: {headline}.",
    critical: "קריטי",
    warning: "אזהרה",
    watch: "מעקב",
    resolved: "נסגר",
    observed: "נספרו",
    usually_about: "בדרך כלל בערך",
    usually: "בדרך כלל",
    how_unusual: "עד כמה חריג",
    negative_share_now: "שיעור השליליים עכשיו",
    negative_share: "שיעור השליליים",
    category: "סוג",
    respond_by: "להגיב עד",
    top_posts: "הפוסטים המרכזיים",
    none_kept: "(אין)",
    followers: "עוקבים",
    reshared: "פוסט אחד ששותף {n} פעמים",
    top_terms: "מילים בולטות",
    sources: "מקורות",
    responses: "הצעות לתגובה ראשונה (להגיב באותו ערוץ; לא מוחקים ולא מסתירים ביקורת; קודם מאמתים עובדות)",
    suggested_reply: "הצעה לתגובה ראשונה",
    also_open: "פתוחים גם",
    ack_link: "לאשר שראיתי (קישור חד-פעמי, פג תוקף)",
    open_dashboard: "לפתוח בלוח הבקרה",
    open_incident: "לפתוח את האירוע",
    incident: "אירוע",
    rule: "כלל",
    severity: "חומרה",
    acknowledge: "ראיתי, מטפלים",
    escalate_now: "להסלים עכשיו",
    mute_1h: "השתקה לשעה",
    acked_by: "{who} אישר/ה שראה/תה",
    escalated_by: "{who} הסלים/ה",
    muted_by: "{who} השתיק/ה לשעה",
    not_done: "לא בוצע: {reason}",
    window: "חלון זמן",
    chart_alt: "אזכורים לדקה ב-24 השעות האחרונות, מול הטווח הרגיל",
    test: "בדיקה",
    escalated_to: "הסלמה: {severity}",
    usual: "הרגיל",
    chance: "סיכוי",
    open_post: "לפתוח את הפוסט",
    drafts: "הצעות לתגובה ראשונה (טיוטות)",
    also_open_brand: "פתוחים גם למותג הזה: {rules}",
    no_links: "אין קישורים: הכתובת ב-[notify] public_url היא לא כתובת שאפשר לפתוח.",
};

const FA: Words = Words {
    mentions: "اشاره‌ها",
    negative_mentions: "اشاره‌های منفی",
    large_accounts: "اشاره‌های حساب‌های بزرگ",
    times_usual: "{what}: {ratio} برابر حالت عادی ({count} در {minutes} دقیقه)",
    percent_above: "{what}: {pct}% بیشتر از حالت عادی ({count} در {minutes} دقیقه)",
    far_above: "{what}: خیلی بیشتر از حالت عادی ({count} در {minutes} دقیقه)",
    back_to_usual: "{what}: به حالت عادی برگشت",
    stopped: "اشاره‌ها قطع شد ({minutes} دقیقه سکوت)",
    odds: "اگر همه‌چیز عادی بود، احتمالش حدود ۱ در {n} بود",
    odds_tiny: "اگر همه‌چیز عادی بود، احتمالش کمتر از ۱ در یک تریلیون بود",
    million: "میلیون",
    billion: "میلیارد",
    summary_alert: "{brand} توجه غیرعادی گرفته است: {headline}. این از نظر آماری واقعی است، نه نویز.",
    summary_escalated: "وضعیت {brand} بدتر شد ({severity}): {headline}.",
    summary_resolved: "رویداد ({rule}) برای {brand} تمام شد: {headline}.",
    critical: "بحرانی",
    warning: "هشدار",
    watch: "زیر نظر",
    resolved: "حل شد",
    observed: "مشاهده‌شده",
    usually_about: "معمولاً حدود",
    usually: "معمولاً",
    how_unusual: "چقدر غیرعادی",
    negative_share_now: "سهم منفی‌ها الان",
    negative_share: "سهم منفی‌ها",
    category: "نوع",
    respond_by: "پاسخ تا",
    top_posts: "پست‌های اصلی",
    none_kept: "(هیچ)",
    followers: "دنبال‌کننده",
    reshared: "یک پست که {n} بار بازنشر شد",
    top_terms: "واژه‌های پرتکرار",
    sources: "منابع",
    responses:
        "پیشنهاد پاسخ اول (در همان کانال جواب بدهید؛ انتقاد را هرگز پاک یا پنهان نکنید؛ اول واقعیت را بررسی کنید)",
    suggested_reply: "پیشنهاد پاسخ اول",
    also_open: "باز هم هستند",
    ack_link: "تأیید دیدن (لینک یک‌بارمصرف، منقضی می‌شود)",
    open_dashboard: "باز کردن در داشبورد",
    open_incident: "باز کردن رویداد",
    incident: "رویداد",
    rule: "قاعده",
    severity: "شدت",
    acknowledge: "دیدم، پیگیری می‌کنم",
    escalate_now: "ارجاع فوری",
    mute_1h: "بی‌صدا تا ۱ ساعت",
    acked_by: "{who} تأیید کرد که دیده است",
    escalated_by: "{who} تشدید کرد",
    muted_by: "{who} برای ۱ ساعت بی‌صدا کرد",
    not_done: "انجام نشد: {reason}",
    window: "بازه زمانی",
    chart_alt: "اشاره‌ها در هر دقیقه در ۲۴ ساعت گذشته، همراه با محدوده معمول",
    test: "آزمایشی",
    escalated_to: "تشدید شد: {severity}",
    usual: "مقدار معمول",
    chance: "احتمال",
    open_post: "باز کردن پست",
    drafts: "پیشنهاد پاسخ اول (پیش‌نویس)",
    also_open_brand: "موارد باز دیگر برای این برند: {rules}",
    no_links: "بدون لینک: نشانی [notify] public_url قابل باز کردن نیست.",
};

const RU: Words = Words {
    mentions: "упоминания",
    negative_mentions: "негативные упоминания",
    large_accounts: "упоминания крупными аккаунтами",
    times_usual: "{what}: в {ratio} раз больше обычного ({count} за {minutes} мин)",
    percent_above: "{what}: на {pct}% выше обычного ({count} за {minutes} мин)",
    far_above: "{what}: намного выше обычного ({count} за {minutes} мин)",
    back_to_usual: "{what}: снова в норме",
    stopped: "упоминания прекратились ({minutes} мин тишины)",
    odds: "при обычной картине шанс примерно 1 из {n}",
    odds_tiny: "при обычной картине шанс меньше 1 на триллион",
    million: "млн",
    billion: "млрд",
    summary_alert: "{brand} привлекает необычное внимание: {headline}. Это статистически значимо, а не шум.",
    summary_escalated: "Инцидент {brand} обострился ({severity}): {headline}.",
    summary_resolved: "Инцидент ({rule}) по {brand} завершён: {headline}.",
    critical: "критический",
    warning: "предупреждение",
    watch: "наблюдение",
    resolved: "ЗАКРЫТ",
    observed: "Сейчас",
    usually_about: "обычно около",
    usually: "обычно",
    how_unusual: "Насколько необычно",
    negative_share_now: "Доля негатива сейчас",
    negative_share: "доля негатива",
    category: "Тип",
    respond_by: "Ответить до",
    top_posts: "Главные посты",
    none_kept: "(нет)",
    followers: "подписчиков",
    reshared: "1 пост, репостнутый {n} раз",
    top_terms: "Частые слова",
    sources: "Источники",
    responses: "Варианты первого ответа (отвечайте в том же канале; никогда не удаляйте и не скрывайте критику; сначала проверьте факты)",
    suggested_reply: "Вариант первого ответа",
    also_open: "Также открыты",
    ack_link: "Подтвердить (одноразовая ссылка с ограниченным сроком)",
    open_dashboard: "Открыть в панели",
    open_incident: "Открыть инцидент",
    incident: "Инцидент",
    rule: "правило",
    severity: "Уровень",
    acknowledge: "Беру в работу",
    escalate_now: "Эскалировать",
    mute_1h: "Тишина на 1 ч",
    acked_by: "Принято: {who}",
    escalated_by: "Эскалировано: {who}",
    muted_by: "Тишина на 1 ч: {who}",
    not_done: "Не выполнено: {reason}",
    window: "Период",
    chart_alt: "упоминания в минуту за последние 24 часа и обычный диапазон",    test: "ТЕСТ",
    escalated_to: "ЭСКАЛАЦИЯ: {severity}",
    usual: "Обычно",
    chance: "Вероятность",
    open_post: "Открыть пост",
    drafts: "Варианты первого ответа (черновики)",
    also_open_brand: "Также открыты по этому бренду: {rules}",
    no_links: "Ссылок нет: [notify] public_url — не адрес, который можно открыть.",
};

const AR: Words = Words {
    mentions: "الإشارات",
    negative_mentions: "الإشارات السلبية",
    large_accounts: "إشارات من حسابات كبيرة",
    times_usual: "{what}: {ratio} أضعاف المعتاد ({count} خلال {minutes} دقيقة)",
    percent_above: "{what}: أعلى من المعتاد بنسبة {pct}% ({count} خلال {minutes} دقيقة)",
    far_above: "{what}: أعلى بكثير من المعتاد ({count} خلال {minutes} دقيقة)",
    back_to_usual: "{what}: عادت إلى المعتاد",
    stopped: "توقفت الإشارات ({minutes} دقيقة من الصمت)",
    odds: "لو كان الوضع معتادًا لكان الاحتمال نحو 1 من {n}",
    odds_tiny: "لو كان الوضع معتادًا لكان الاحتمال أقل من 1 في التريليون",
    million: "مليون",
    billion: "مليار",
    summary_alert: "{brand} يحظى باهتمام غير معتاد: {headline}. هذا حقيقي إحصائيًا وليس ضجيجًا.",
    summary_escalated: "تفاقم الوضع بالنسبة لـ{brand} ({severity}): {headline}.",
    summary_resolved: "انتهى الحادث ({rule}) الخاص بـ{brand}: {headline}.",
    critical: "حرج",
    warning: "تحذير",
    watch: "مراقبة",
    resolved: "تم الحل",
    observed: "المرصود",
    usually_about: "عادةً نحو",
    usually: "عادةً",
    how_unusual: "مدى الغرابة",
    negative_share_now: "نسبة السلبية الآن",
    negative_share: "نسبة السلبية",
    category: "النوع",
    respond_by: "الرد قبل",
    top_posts: "أبرز المنشورات",
    none_kept: "(لا يوجد)",
    followers: "متابع",
    reshared: "منشور واحد أُعيدت مشاركته {n} مرة",
    top_terms: "أبرز الكلمات",
    sources: "المصادر",
    responses: "ردود أولى مقترحة (ردّوا في القناة نفسها؛ لا تحذفوا النقد ولا تخفوه أبدًا؛ تحققوا من الحقائق أولًا)",
    suggested_reply: "رد أول مقترح",
    also_open: "مفتوحة أيضًا",
    ack_link: "تأكيد الاستلام (رابط لمرة واحدة تنتهي صلاحيته)",
    open_dashboard: "فتح في لوحة المتابعة",
    open_incident: "فتح الحادث",
    incident: "الحادث",
    rule: "القاعدة",
    severity: "الخطورة",
    acknowledge: "استلمت، أتابع",
    escalate_now: "تصعيد الآن",
    mute_1h: "كتم لساعة",
    acked_by: "تم الاستلام بواسطة {who}",
    escalated_by: "تم التصعيد بواسطة {who}",
    muted_by: "تم الكتم لساعة بواسطة {who}",
    not_done: "لم يتم: {reason}",
    window: "الفترة الزمنية",
    chart_alt: "الإشارات في الدقيقة خلال آخر 24 ساعة مع النطاق المعتاد",
    test: "اختبار",
    escalated_to: "تصعيد: {severity}",
    usual: "المعتاد",
    chance: "الاحتمال",
    open_post: "فتح المنشور",
    drafts: "ردود أولى مقترحة (مسودات)",
    also_open_brand: "مفتوحة أيضًا لهذه العلامة التجارية: {rules}",
    no_links: "لا توجد روابط: عنوان [notify] public_url لا يمكن فتحه.",
};

/// The words of `lang`.
pub fn of(lang: Lang) -> &'static Words {
    match lang {
        Lang::En => &EN,
        Lang::He => &HE,
        Lang::Fa => &FA,
        Lang::Ru => &RU,
        Lang::Ar => &AR,
    }
}

impl Words {
    /// The severity's name (`critical`, `warning`, `watch`; anything else as given).
    pub fn severity_name<'a>(&'a self, s: &'a str) -> &'a str {
        match s {
            "critical" => self.critical,
            "warning" => self.warning,
            "watch" => self.watch,
            other => other,
        }
    }
}

/// `template` with each `{key}` replaced by its value.
pub fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = template.to_string();
    for (k, v) in values {
        out = out.replace(&format!("{{{k}}}"), v);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every language has every phrase, and the same placeholders as English in each.
    #[test]
    fn every_language_has_every_phrase_with_the_same_placeholders() {
        let placeholders = |s: &str| {
            let mut v: Vec<String> =
                s.split('{').skip(1).filter_map(|p| p.split_once('}').map(|(k, _)| k.to_string())).collect();
            v.sort();
            v
        };
        let en = serde_json::to_value(of(Lang::En)).unwrap();
        for lang in Lang::ALL {
            let w = serde_json::to_value(of(lang)).unwrap();
            for (key, phrase) in en.as_object().unwrap() {
                let theirs = w[key].as_str().unwrap_or_else(|| panic!("{} lacks {key}", lang.code()));
                assert!(!theirs.trim().is_empty(), "{} {key} empty", lang.code());
                assert_eq!(
                    placeholders(theirs),
                    placeholders(phrase.as_str().unwrap()),
                    "{} {key}: {theirs}",
                    lang.code()
                );
                if lang != Lang::En && !["million", "billion"].contains(&key.as_str()) {
                    assert_ne!(theirs, phrase.as_str().unwrap(), "{} {key} is not translated", lang.code());
                }
            }
        }
    }

    #[test]
    fn fill_replaces_every_placeholder() {
        assert_eq!(fill(of(Lang::Ru).reshared, &[("n", "800")]), "1 пост, репостнутый 800 раз");
        assert_eq!(fill("{a} {a} {b}", &[("a", "x"), ("b", "y")]), "x x y");
    }
}
