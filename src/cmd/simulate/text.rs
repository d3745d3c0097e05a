//! The texts of the simulated stream: post templates in five languages, brand names, and the
//! JSON of one mention.

use crate::time::{format_rfc3339, Millis};
use rand::Rng;

pub(super) struct Lang {
    pub(super) code: &'static str,
    pub(super) neutral: &'static [&'static str],
    pub(super) positive: &'static [&'static str],
    pub(super) negative: &'static [&'static str],
    pub(super) outage: &'static [&'static str],
    pub(super) boycott: &'static [&'static str],
}

pub(super) const LANGS: [Lang; 5] = [
    Lang {
        code: "en",
        neutral: &[
            "anyone tried {b} lately?",
            "{b} opens a new store downtown",
            "what time does {b} close on sundays",
            "comparing {b} with the others before I buy",
        ],
        positive: &[
            "love the new {b} app, so smooth",
            "great service at {b} today, thank you!",
            "{b} support fixed my issue in five minutes",
            "the {b} summer collection looks amazing",
        ],
        negative: &[
            "{b} overcharged me again, not happy",
            "waited 40 minutes on the {b} hotline",
            "{b} delivery late for the third time",
            "terrible experience with {b} customer service",
        ],
        outage: &[
            "is {b} down? app not working for me",
            "{b} outage again, cannot log in",
            "{b} payments failing everywhere, error 503",
            "{b} website down, anyone else?",
        ],
        boycott: &[
            "boycott {b} until they apologise",
            "I'm done with {b}, #boycott{b}",
            "stop buying from {b}, share this",
        ],
    },
    Lang {
        code: "he",
        neutral: &["מישהו ניסה את {b} לאחרונה?", "{b} פותחים סניף חדש בתל אביב", "מה שעות הפתיחה של {b} בשבת"],
        positive: &["תודה ל{b} על שירות מעולה", "האפליקציה החדשה של {b} פשוט מצוינת", "{b} פתרו לי את הבעיה תוך דקות"],
        negative: &["{b} חייבו אותי פעמיים, מבאס", "שירות לקוחות של {b} זוועה", "המשלוח מ{b} מאחר שוב"],
        outage: &["{b} לא עובד, האפליקציה קרסה", "תקלה ב{b} שוב, אי אפשר להתחבר", "האתר של {b} נפל"],
        boycott: &["חרם על {b} עד שיתנצלו", "לא קונים יותר ב{b}, תעבירו הלאה"],
    },
    Lang {
        code: "fa",
        neutral: &["کسی اخیرا از {b} خرید کرده؟", "{b} شعبه جدید باز کرد", "ساعت کاری {b} چیه؟"],
        positive: &["ممنون از {b} بابت پشتیبانی عالی", "اپلیکیشن جدید {b} خیلی خوبه", "خرید از {b} عالی بود"],
        negative: &["{b} دوباره پول اضافه کم کرد", "پشتیبانی {b} افتضاح است", "سفارشم از {b} باز هم دیر رسید"],
        outage: &["{b} قطع است، برنامه کار نمی‌کند", "سایت {b} بالا نمی‌آید", "پرداخت در {b} خطا می‌دهد"],
        boycott: &["تحریم {b} تا وقتی عذرخواهی کنند", "دیگر از {b} خرید نکنید"],
    },
    Lang {
        code: "ru",
        neutral: &["кто-нибудь пользовался {b} недавно?", "{b} открывает новый магазин", "во сколько закрывается {b}?"],
        positive: &[
            "спасибо {b} за отличный сервис",
            "новое приложение {b} просто супер",
            "{b} быстро решили мою проблему",
        ],
        negative: &["{b} опять списали деньги дважды", "поддержка {b} ужасная", "доставка {b} снова опоздала"],
        outage: &[
            "{b} не работает, приложение упало",
            "сбой у {b}, не могу войти",
            "сайт {b} лежит, оплата не проходит",
        ],
        boycott: &["бойкот {b}, пока не извинятся", "не покупайте в {b}, репост"],
    },
    Lang {
        code: "ar",
        neutral: &["هل جرب أحد {b} مؤخرا؟", "{b} تفتح فرعا جديدا", "متى يغلق {b} يوم الجمعة؟"],
        positive: &["شكرا {b} على الخدمة الممتازة", "تطبيق {b} الجديد رائع", "{b} حلوا مشكلتي بسرعة"],
        negative: &["{b} خصموا المبلغ مرتين", "خدمة عملاء {b} سيئة جدا", "التوصيل من {b} متأخر مرة أخرى"],
        outage: &["{b} لا يعمل، التطبيق متوقف", "عطل في {b} لا أستطيع الدخول", "موقع {b} معطل والدفع لا يتم"],
        boycott: &["قاطعوا {b} حتى يعتذروا", "لن أشتري من {b} بعد اليوم"],
    },
];

/// Every post template of the simulator, with its language (`{b}` for the brand): for the
/// check that in-domain training texts do not copy them.
#[cfg(test)]
pub(crate) fn templates() -> impl Iterator<Item = (&'static str, &'static str)> {
    LANGS.iter().flat_map(|l| {
        [l.neutral, l.positive, l.negative, l.outage, l.boycott].into_iter().flatten().map(|t| (l.code, *t))
    })
}

pub(super) const BRAND_NAMES: [(&str, &str); 15] = [
    ("acme", "Acme"),
    ("migdalor", "מגדלור"),
    ("sepidar", "سپیدار"),
    ("lunteck", "Лунтек"),
    ("nakheel", "نخيل"),
    ("globex", "Globex"),
    ("nofit", "נופית"),
    ("ava", "آوا"),
    ("borey", "Борей"),
    ("waha", "واحة"),
    ("initech", "Initech"),
    ("shahaf", "שחף"),
    ("setareh", "ستاره"),
    ("vektor", "Вектор"),
    ("sahra", "صحراء"),
];

pub(super) fn pick<'a>(rng: &mut impl Rng, bank: &[&'a str]) -> &'a str {
    bank[rng.gen_range(0..bank.len())]
}

#[allow(clippy::too_many_arguments)]
pub(super) fn mention_json(
    id: &str,
    ts: Millis,
    brand: &str,
    name: &str,
    lang: &str,
    text: &str,
    author: &str,
    followers: u64,
    sentiment: Option<f64>,
    shared_of: Option<&str>,
) -> String {
    const SOURCES: [&str; 8] = ["twitter", "facebook", "instagram", "telegram", "vk", "forum", "news", "reviews"];
    let text = text.replace("{b}", name);
    let source = SOURCES[(crate::hash::fnv1a(id.as_bytes()) % 8) as usize];
    let mut v = serde_json::json!({
        "id": id, "ts": format_rfc3339(ts - ts % 1000), "text": text, "brand": brand, "lang": lang, "source": source,
        "author": author, "author_followers": followers, "url": format!("https://example.com/{source}/{}", id.replace(':', "/")),
    });
    if let (Some(s), Some(obj)) = (sentiment, v.as_object_mut()) {
        obj.insert("sentiment".into(), s.into());
    }
    let mut s = v.to_string();
    if let Some(root) = shared_of {
        s.pop();
        s.push_str(&format!(",\"shared_of\":{}}}", serde_json::Value::from(root)));
    }
    s.push('\n');
    s
}
