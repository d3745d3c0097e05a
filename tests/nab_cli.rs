//! `crisiswatch nab` writes one result row per input row, in file order, even for repeated
//! and irregular timestamps, under `OUT/<category>/crisiswatch_<file>.csv`.

mod support;

use support::{run, stderr};

#[test]
fn one_output_row_per_input_row() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data/realTest");
    std::fs::create_dir_all(&data).unwrap();
    let mut csv = String::from("timestamp,value\n");
    let start = crisiswatch::time::parse_timestamp("2015-02-26 00:00:00").unwrap();
    let mut n = 0;
    for i in 0..3000i64 {
        // 5-minute rows, a repeated timestamp, and a spike near the end
        let t = start + i * 300_000 - if i == 2000 { 300_000 } else { 0 };
        let v = if (2900..2910).contains(&i) {
            500.0
        } else {
            100.0 + 20.0 * ((i % 288) as f64 / 288.0 * std::f64::consts::TAU).sin()
        };
        csv.push_str(&format!("{},{v:.1}\n", crisiswatch::time::format_nab(t)));
        n += 1;
    }
    std::fs::write(data.join("series.csv"), &csv).unwrap();
    let out = dir.path().join("out");
    let o = run(&["nab", "--data", dir.path().join("data").to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let result = std::fs::read_to_string(out.join("realTest/crisiswatch_series.csv")).unwrap();
    let rows: Vec<&str> = result.lines().collect();
    assert_eq!(rows[0], "timestamp,value,anomaly_score,alert");
    assert_eq!(rows.len(), n + 1);
    let input_ts: Vec<&str> = csv.lines().skip(1).map(|l| l.split(',').next().unwrap()).collect();
    let output_ts: Vec<&str> = rows[1..].iter().map(|l| l.split(',').next().unwrap()).collect();
    assert_eq!(input_ts, output_ts);
    let score = |i: usize| rows[i + 1].split(',').nth(2).unwrap().parse::<f64>().unwrap();
    let alert = |i: usize| rows[i + 1].split(',').nth(3).unwrap() == "1";
    assert!(score(2900) > 0.5 && alert(2900), "the spike scores high: {}", rows[2901]);
    let quiet_max = (1000..2800).map(score).fold(0.0, f64::max);
    assert!(quiet_max < score(2900), "quiet rows score below the spike ({quiet_max})");
}

#[test]
fn malformed_rows_name_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("data/x")).unwrap();
    std::fs::write(
        dir.path().join("data/x/a.csv"),
        "timestamp,value\n2015-01-01 00:00:00,1\n2015-01-01 00:05:00,abc\n",
    )
    .unwrap();
    let o = run(&[
        "nab",
        "--data",
        dir.path().join("data").to_str().unwrap(),
        "--out",
        dir.path().join("o").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("a.csv:3: value `abc` is not a number"), "{}", stderr(&o));
}
