//! Language identification + tone scoring throughput, one thread
//! (`cargo bench --bench tone_throughput`): a multilingual mix of 40–280 character posts
//! (en, he, ar with the built-in weights; fa and ru with the share-alike weights).

use crisiswatch::tone_model::MultilingualTone;
use std::time::Instant;

fn main() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/tone_weights/share-alike");
    let model = MultilingualTone::builtin_plus(Some(std::path::Path::new(dir))).expect("weights");
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
    // 40 to 280 characters: repeat or cut the seed sentences
    let posts: Vec<String> = (0..20_000)
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
        .collect();
    let mut best = f64::MAX;
    let mut negatives = 0;
    for _ in 0..5 {
        let t = Instant::now();
        negatives = 0;
        for p in &posts {
            if model.p_negative_detected(p).is_some_and(|x| x >= 0.5) {
                negatives += 1;
            }
        }
        best = best.min(t.elapsed().as_secs_f64());
    }
    println!(
        "language id + tone: {:.0} posts/s ({:.0} ns/post, {} of {} negative)",
        posts.len() as f64 / best,
        best / posts.len() as f64 * 1e9,
        negatives,
        posts.len()
    );
}
