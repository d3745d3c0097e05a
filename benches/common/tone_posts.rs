//! The posts the tone benches score: a multilingual mix of 40–280 character posts taken in
//! turn from each language's labelled test split in `../shared/data/sentiment` (real posts,
//! read at run time, not copied into the repository); without that directory, eight seed
//! sentences cut to length.

/// 20,000 posts, the five languages in turn.
pub fn posts() -> Vec<String> {
    realistic_posts().unwrap_or_else(seed_posts)
}

/// 20,000 posts of 40–280 characters, the five languages in turn, from the test splits.
fn realistic_posts() -> Option<Vec<String>> {
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/sentiment");
    let mut per_lang = Vec::new();
    for lang in ["en", "he", "ar", "fa", "ru"] {
        let text = std::fs::read_to_string(data.join(lang).join("test.tsv")).ok()?;
        let texts: Vec<String> = text
            .lines()
            .skip(1)
            .filter_map(|l| l.split_once('\t').map(|(_, t)| t.to_string()))
            .filter(|t| (40..=280).contains(&t.chars().count()))
            .collect();
        if texts.is_empty() {
            return None;
        }
        per_lang.push(texts);
    }
    let posts: Vec<String> = (0..20_000).map(|i| per_lang[i % 5][(i / 5) % per_lang[i % 5].len()].clone()).collect();
    let chars: usize = posts.iter().map(|p| p.chars().count()).sum();
    println!("posts: 20,000 from the test splits, mean {} characters", chars / posts.len());
    Some(posts)
}

/// Eight seed sentences (two negative and one positive per script), repeated or cut to 40 to
/// 280 characters.
fn seed_posts() -> Vec<String> {
    let seeds = [
        "the app has been down all morning and support does not answer, really disappointed",
        "love the new collection, the staff in the downtown store were so helpful today!",
        "האפליקציה לא עובדת כבר שעתיים ואף אחד לא עונה בשירות הלקוחות",
        "תודה רבה על השירות המהיר, ממש מרוצה",
        "خدمة العملاء سيئة جدا ولا أحد يرد على الهاتف منذ يومين",
        "شكرا على التوصيل السريع، المنتج ممتاز",
        "پشتیبانی این شرکت افتضاح است و سفارشم هنوز نرسیده",
        "Сервис ужасный, приложение опять не работает и никто не отвечает",
    ];
    println!("posts: 20,000 cut from eight seed sentences (../shared/data/sentiment not found)");
    (0..20_000)
        .map(|i| {
            let s = seeds[i % seeds.len()];
            let target = 40 + (i * 37) % 241;
            let mut t = String::new();
            while t.chars().count() < target {
                t.push_str(s);
                t.push(' ');
            }
            t.chars().take(target).collect()
        })
        .collect()
}
