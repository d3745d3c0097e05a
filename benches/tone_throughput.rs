//! Language identification + tone scoring throughput on one thread, measured with criterion
//! (`cargo bench --bench tone_throughput`): a multilingual mix of 40–280 character posts
//! (en, he, ar with the built-in weights; fa and ru with the share-alike weights), from the
//! test splits in `../shared/data/sentiment` (see `common/tone_posts.rs`).
//!
//! Reported as elements (posts) per second for: the whole hot path (language identification
//! and scoring, what the engine runs per mention without a provider sentiment), language
//! identification alone, feature extraction alone, and scoring per language.

// criterion's macros define public functions without docs
#![allow(missing_docs)]

use crisiswatch::ingest::lang::{detect, Lang};
use crisiswatch::tone::ToneModel;
use crisiswatch::tone::{Featurizer, MultilingualTone};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;

#[path = "common/tone_posts.rs"]
mod tone_posts;

fn model() -> MultilingualTone {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/tone/weights/share-alike");
    MultilingualTone::builtin_plus(Some(std::path::Path::new(dir))).expect("weights")
}

fn tone(c: &mut Criterion) {
    let model = model();
    let posts = tone_posts::posts();
    let langs: Vec<Lang> = posts.iter().map(|p| detect(p).expect("language")).collect();

    let mut g = c.benchmark_group("tone");
    g.throughput(Throughput::Elements(posts.len() as u64));
    g.bench_function("langid+score/mix", |b| {
        b.iter(|| posts.iter().filter(|p| model.p_negative_detected(p).is_some_and(|x| x >= 0.5)).count())
    });
    g.bench_function("langid/mix", |b| b.iter(|| posts.iter().filter_map(|p| detect(black_box(p))).count()));
    let mut fz = Featurizer::default();
    g.bench_function("extract/mix", |b| {
        b.iter(|| {
            let mut n = 0;
            for (p, &lang) in posts.iter().zip(&langs) {
                fz.extract(p, lang);
                n += fz.features.len();
            }
            n
        })
    });
    g.finish();

    // scoring alone (language given), per language
    let mut g = c.benchmark_group("tone-by-language");
    for lang in Lang::ALL {
        let subset: Vec<&String> = posts.iter().zip(&langs).filter(|(_, l)| **l == lang).map(|(p, _)| p).collect();
        if subset.is_empty() {
            continue;
        }
        g.throughput(Throughput::Elements(subset.len() as u64));
        g.bench_with_input(BenchmarkId::new("score", lang.code()), &subset, |b, subset| {
            b.iter(|| {
                subset.iter().filter_map(|p| model.p_negative(p, Some(lang.code()))).filter(|&x| x >= 0.5).count()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, tone);
criterion_main!(benches);
