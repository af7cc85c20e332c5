//! `tally generate --serve`: the original voter API, `GET /api/stream_votes`, as server-sent
//! events in the seed format, deterministic by seed.

mod common;

use common::*;

#[test]
fn the_voter_api_streams_what_generate_prints() {
    let (_server, url) = start_tally(
        &[
            "generate",
            "--serve",
            "127.0.0.1:0",
            "--count",
            "40",
            "--seed",
            "5",
            "--rate",
            "400",
            "--duplicate-rate",
            "0.2",
        ],
        "voter stream at ",
    );
    let printed = String::from_utf8(run_ok(&[
        "generate",
        "--count",
        "40",
        "--seed",
        "5",
        "--duplicate-rate",
        "0.2",
    ]))
    .unwrap();
    let printed: Vec<&str> = printed.lines().collect();
    assert!(printed.len() > 40);
    // Each client gets its own stream from the first record.
    assert_eq!(sse_records(&url, printed.len()), printed);
    assert_eq!(sse_records(&url, 3), printed[..3]);
    let missing = url.replace("/api/stream_votes", "/api/nothing");
    assert_eq!(http_get_status(&missing).map(|(status, _)| status), Some(404));
}
