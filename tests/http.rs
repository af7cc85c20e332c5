//! The HTTP API on a real listening `tally run`: JSON equals the graph's state, every chart is
//! well-formed SVG naming the candidates, caching works, bad requests get 4xx.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::Value;
use std::time::Duration;
use tally_model::Apportionment;

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("HTTP client")
}

async fn get(url: &str) -> reqwest::Response {
    client()
        .get(url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
}

/// The first server-sent event of the stream at `url`, as text.
async fn first_event(url: &str) -> String {
    let mut events = get(url).await;
    assert!(events.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let mut received = String::new();
    while !received.contains("\n\n") {
        let chunk = tokio::time::timeout(Duration::from_secs(10), events.chunk())
            .await
            .expect("an event arrives")
            .unwrap()
            .expect("stream open");
        received.push_str(&String::from_utf8_lossy(&chunk));
    }
    received
}

/// The job's results once they are complete.
async fn complete_results(base: &str) -> Value {
    let url = format!("{base}/api/results");
    wait_for_async("complete results", Duration::from_secs(60), || async {
        let body: Value = get(&url).await.json().await.ok()?;
        (body["complete"] == true).then_some(body)
    })
    .await
}

async fn error_status(url: &str) -> (StatusCode, Value) {
    let response = get(url).await;
    let status = response.status();
    let body: Value = response.json().await.expect("errors are JSON");
    assert_eq!(body["status"], status.as_u16(), "{url}");
    assert!(body["error"].as_str().is_some_and(|e| !e.is_empty()), "{url}");
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_job_serves_consistent_json_charts_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let generated = run_ok(&[
        "generate",
        "--count",
        "3000",
        "--seed",
        "8",
        "--invalid-rate",
        "0.05",
        "--duplicate-rate",
        "0.05",
    ]);
    let file = write_file(dir.path(), "votes.ndjson", &generated);
    let expected = expected_results(std::slice::from_ref(&file), Apportionment::Census2020);
    let (_server, base) = start_server(&["--source", file.to_str().unwrap(), "--workers", "2"]);

    // Results are published per epoch; wait for the complete ones.
    let results_url = format!("{base}/api/results");
    let results = complete_results(&base).await;
    assert_eq!(without_epoch(results.clone()), expected);
    let pretty = get(&format!("{results_url}?pretty=true")).await.text().await.unwrap();
    assert!(pretty.contains("\n  \"votes\""));

    let names: Vec<String> = results["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect();
    assert!(names.len() >= 2);
    for chart in ["candidates", "gender", "age", "states", "electoral"] {
        let url = format!("{base}/charts/{chart}.svg");
        let response = get(&url).await;
        assert_eq!(response.status(), StatusCode::OK, "{chart}");
        assert_eq!(response.headers()["content-type"], "image/svg+xml");
        let etag = response.headers()["etag"].to_str().unwrap().to_string();
        let svg = response.text().await.unwrap();
        let document = roxmltree::Document::parse(&svg).unwrap_or_else(|e| panic!("{chart}.svg is not XML: {e}"));
        assert_eq!(document.root_element().tag_name().name(), "svg");
        let text: String = document
            .descendants()
            .filter(|n| n.is_text())
            .map(|n| n.text().unwrap_or(""))
            .collect::<Vec<_>>()
            .join(" ");
        for name in &names {
            assert!(text.contains(name.as_str()), "{chart}.svg names {name}");
        }
        let cached = client().get(&url).header("if-none-match", &etag).send().await.unwrap();
        assert_eq!(cached.status(), StatusCode::NOT_MODIFIED, "{chart}");
        let resized = get(&format!("{url}?width=400&height=300&epoch={}", results["epoch"])).await;
        assert_eq!(resized.status(), StatusCode::OK);
        assert!(resized.text().await.unwrap().contains("width=\"400\""));
    }
    let states = get(&format!("{base}/charts/states.svg")).await.text().await.unwrap();
    let document = roxmltree::Document::parse(&states).unwrap();
    let labels: Vec<&str> = document.descendants().filter_map(|n| n.text()).map(str::trim).collect();
    for code in ["CA", "TX", "DC", "ME"] {
        assert!(labels.contains(&code), "the map shows {code}");
    }

    // The timeline: points in time order, votes never decreasing, ending at the final count.
    let timeline: Value = get(&format!("{base}/api/timeline")).await.json().await.unwrap();
    let points = timeline["points"].as_array().expect("points");
    assert!(!points.is_empty() && points.len() <= 1000);
    assert!(points
        .windows(2)
        .all(|w| w[0]["as_of"].as_i64() <= w[1]["as_of"].as_i64() && w[0]["votes"].as_u64() <= w[1]["votes"].as_u64()));
    assert_eq!(points.last().map(|p| &p["votes"]), Some(&results["votes"]));
    let svg = get(&format!("{base}/charts/timeline.svg")).await.text().await.unwrap();
    assert!(svg.contains("How the race moved") && svg.contains(names[0].as_str()));

    let metrics = get(&format!("{base}/metrics")).await.text().await.unwrap();
    assert!(
        metrics.contains(&format!("tally_votes_total {}", expected["votes"])),
        "{metrics}"
    );
    let duplicates = &expected["rejected"]["duplicate_voter"];
    assert!(metrics.contains(&format!(
        "tally_rejected_total{{reason=\"duplicate_voter\"}} {duplicates}"
    )));
    assert!(metrics.contains("tally_results_complete 1"));
    if let Some(verdict) = promtool_check_metrics("a_running_job_serves_consistent_json_charts_and_errors", &metrics) {
        assert_eq!(verdict, Ok(()), "promtool check metrics:\n{metrics}");
    }
    // A scraper that asks for OpenMetrics gets it.
    let openmetrics = client()
        .get(format!("{base}/metrics"))
        .header("accept", "application/openmetrics-text;version=1.0.0")
        .send()
        .await
        .unwrap();
    assert!(openmetrics.headers()["content-type"]
        .to_str()
        .unwrap_or_default()
        .starts_with("application/openmetrics-text"));
    assert!(openmetrics.text().await.unwrap().ends_with("# EOF\n"));

    let health: Value = get(&format!("{base}/healthz")).await.json().await.unwrap();
    assert_eq!(health["status"], "ok");

    let dashboard = get(&format!("{base}/")).await;
    assert!(dashboard.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let page = dashboard.text().await.unwrap();
    for chart in ["candidates", "gender", "age", "states", "electoral"] {
        assert!(page.contains(&format!("data-chart=\"{chart}\"")));
    }
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "no external assets"
    );

    // The event stream starts with the current results.
    let received = first_event(&format!("{base}/api/events")).await;
    let data = received
        .lines()
        .find_map(|l| l.strip_prefix("data:"))
        .expect("a data line");
    assert_eq!(without_epoch(serde_json::from_str(data).unwrap()), expected);

    // Compact: the epoch alone, whose document and charts can then be asked for.
    let received = first_event(&format!("{base}/api/events?compact=true")).await;
    assert!(received.contains("event:epoch"), "{received}");
    let data = received
        .lines()
        .find_map(|l| l.strip_prefix("data:"))
        .expect("a data line");
    let announced: Value = serde_json::from_str(data).unwrap();
    assert_eq!(announced["epoch"], results["epoch"]);
    assert_eq!(announced["complete"], true);
    let at_epoch: Value = get(&format!("{base}/api/results?epoch={}", announced["epoch"]))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(without_epoch(at_epoch), expected);
    // An epoch never published (none comes after the final one) is not kept.
    let never = announced["epoch"].as_u64().unwrap() + 1;
    let (status, body) = error_status(&format!("{base}/api/results?epoch={never}")).await;
    assert_eq!(status, StatusCode::GONE, "{body}");

    assert_eq!(
        error_status(&format!("{base}/charts/nope.svg")).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        error_status(&format!("{base}/charts/candidates.png")).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(error_status(&format!("{base}/nope")).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        error_status(&format!("{base}/charts/age.svg?width=abc")).await.0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        error_status(&format!("{base}/charts/age.svg?width=5")).await.0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        error_status(&format!("{base}/charts/age.svg?height=99999999999"))
            .await
            .0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        error_status(&format!("{base}/api/results?pretty=maybe")).await.0,
        StatusCode::BAD_REQUEST
    );
    let posted = client().post(&results_url).body("{}").send().await.unwrap();
    assert_eq!(posted.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_generator_moves_the_dashboard() {
    let (_server, base) = start_server(&["--rate", "2000", "--workers", "2"]);
    let url = format!("{base}/api/results");
    let seen = std::sync::Mutex::new(Vec::new());
    wait_for_async("votes to rise three times", Duration::from_secs(60), || async {
        let body: Value = get(&url).await.json().await.ok()?;
        assert_eq!(body["complete"], false);
        let votes = body["votes"].as_u64()?;
        let mut seen = seen.lock().ok()?;
        if seen.last().is_none_or(|last| votes > *last) {
            seen.push(votes);
        }
        (seen.len() >= 3).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_state_has_its_document_and_charts_and_they_sum_to_the_nation() {
    let dir = tempfile::tempdir().unwrap();
    let generated = run_ok(&["generate", "--count", "5000", "--seed", "31"]);
    let file = write_file(dir.path(), "votes.ndjson", &generated);
    let (_server, base) = start_server(&["--source", file.to_str().unwrap(), "--workers", "2"]);
    let national = complete_results(&base).await;
    let mut votes = 0;
    let mut by_gender: std::collections::BTreeMap<(String, String), u64> = Default::default();
    for code in national["states"].as_object().unwrap().keys() {
        let document: Value = get(&format!("{base}/api/results?state={code}"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(document["state"], code.as_str());
        assert_eq!(document["epoch"], national["epoch"], "one publication");
        assert_eq!(document["votes"], national["states"][code]["votes"], "{code}");
        assert_eq!(document["called"], national["states"][code]["called"], "{code}");
        for candidate in document["candidates"].as_array().unwrap() {
            let name = candidate["name"].as_str().unwrap();
            assert_eq!(candidate["votes"], national["by_state"][code][name], "{code} {name}");
        }
        votes += document["votes"].as_u64().unwrap();
        for (gender, counts) in document["by_gender"].as_object().unwrap() {
            for (name, n) in counts.as_object().unwrap() {
                *by_gender.entry((gender.clone(), name.clone())).or_default() += n.as_u64().unwrap();
            }
        }
    }
    assert_eq!(Some(votes), national["votes"].as_u64());
    for ((gender, name), n) in by_gender {
        assert_eq!(national["by_gender"][&gender][&name], n, "{gender} {name}");
    }
    // A name works as well as a code; the charts draw the state.
    let texas: Value = get(&format!("{base}/api/results?state=texas"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(texas["state"], "TX");
    for chart in ["candidates", "gender", "age"] {
        let response = get(&format!("{base}/charts/{chart}.svg?state=TX&width=500&height=300")).await;
        assert_eq!(response.status(), StatusCode::OK, "{chart}");
        let national = get(&format!("{base}/charts/{chart}.svg?width=500&height=300")).await;
        assert_ne!(
            response.headers()["etag"],
            national.headers()["etag"],
            "{chart} of Texas is not the nation's"
        );
        let svg = response.text().await.unwrap();
        let leader = texas["candidates"][0]["name"].as_str().unwrap();
        assert!(svg.contains(leader), "{chart} of Texas names {leader}");
    }
    // The same table as CSV: a row per state whose votes sum to the nation's.
    let table = get(&format!("{base}/api/results.csv")).await;
    assert!(table.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let table = table.text().await.unwrap();
    let rows: Vec<Vec<&str>> = table.lines().map(|line| line.split(',').collect()).collect();
    assert_eq!(rows[0][..4], ["state", "name", "electoral_votes", "votes"]);
    assert_eq!(rows.len(), 1 + 51);
    let counted: u64 = rows[1..].iter().map(|row| row[3].parse::<u64>().unwrap()).sum();
    assert_eq!(Some(counted), national["votes"].as_u64());
    let texas_row = rows.iter().find(|row| row[0] == "TX").expect("a row for Texas");
    assert_eq!(Some(texas_row[3].parse::<u64>().unwrap()), texas["votes"].as_u64());

    let (status, body) = error_status(&format!("{base}/api/results?state=Atlantis")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"].as_str().unwrap().contains("Atlantis"), "{body}");
    let (status, _) = error_status(&format!("{base}/charts/gender.svg?state=ZZ")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = error_status(&format!("{base}/charts/states.svg?state=TX")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

/// A reader who goes away mid-exchange (a closed tab: a request cut off, an event stream or a
/// chart dropped half read) is not an operator's problem: nothing is logged at ERROR or WARN.
#[test]
fn a_reader_who_leaves_mid_response_logs_nothing_at_error() {
    use std::io::{Read, Write};
    use std::net::{Shutdown, TcpStream};
    // The accept loop's own DEBUG lines say when it has seen a client leave.
    let (_job, base, log) = start_tally_logged_at(
        "info,tally_web::server::connections=debug",
        &["run", "--listen", "127.0.0.1:0", "--rate", "2000"],
        "dashboard at ",
    );
    let address = base.trim_start_matches("http://").trim_end_matches('/').to_string();
    let connect = || TcpStream::connect(&address).expect("the job accepts connections");
    // A request cut off in its headers.
    let mut cut = connect();
    cut.write_all(b"GET /api/results HTTP/1.1\r\nHost: tally\r\n").unwrap();
    cut.shutdown(Shutdown::Write).unwrap();
    let mut answer = Vec::new();
    let _ = cut.read_to_end(&mut answer);
    // An event stream and a big chart, each dropped after its first bytes.
    for path in ["/api/events", "/charts/states.svg?width=4000"] {
        let mut stream = connect();
        write!(stream, "GET {path} HTTP/1.1\r\nHost: tally\r\n\r\n").unwrap();
        let mut first = [0u8; 64];
        let _ = stream.read(&mut first).unwrap();
        drop(stream);
    }
    let lines = || log.lock().map(|lines| lines.clone()).unwrap_or_default();
    // The cut request ends at once; the dropped stream on the server's next write (events go out
    // every 250 ms). A chart written whole before the drop may end without an error at all.
    wait_for("the job to see two clients leave", Duration::from_secs(30), || {
        let left = lines().iter().filter(|l| l.contains("went away")).count();
        (left >= 2).then_some(())
    });
    assert!(http_get(&format!("{base}/healthz")).is_some(), "the job still serves");
    let bad: Vec<String> = lines()
        .into_iter()
        .filter(|l| l.contains("ERROR") || l.contains("WARN"))
        .collect();
    assert!(bad.is_empty(), "a reader leaving was logged as a problem: {bad:?}");
}

/// A county table played through the job: every state lists its counties, each with exactly its
/// table value at the scale played, and the county CSV holds them all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counties_are_listed_under_their_state_each_with_its_table_value() {
    use tally_model::reference::{president_by_county, scaled};
    let scale = 0.0005;
    let (_server, base) = start_server(&[
        "--scenario",
        "2020",
        "--scale",
        "0.0005",
        "--rate",
        "0",
        "--workers",
        "2",
        "--baseline",
        "2016",
    ]);
    let national = complete_results(&base).await;
    let rows = president_by_county(2020).unwrap();
    // county → candidate → records, as the generator scales the table.
    let mut want: std::collections::BTreeMap<String, std::collections::BTreeMap<String, u64>> = Default::default();
    for (row, count) in rows.iter().zip(scaled(rows, scale)) {
        *want
            .entry(row.county.unwrap().to_string())
            .or_default()
            .entry(row.candidate.clone())
            .or_default() += count;
    }
    let pa: Value = get(&format!("{base}/api/results?state=PA")).await.json().await.unwrap();
    let units = pa["units"].as_array().unwrap();
    assert_eq!(units.len(), 67, "Pennsylvania's 67 counties");
    let philadelphia = units.iter().find(|u| u["county"] == "42101").expect("Philadelphia");
    assert_eq!(philadelphia["name"], "Philadelphia County");
    assert_eq!(philadelphia["leader"], "Biden");
    assert_eq!(philadelphia["reported"], 1.0);
    assert!(philadelphia["swing"]["DEMOCRAT"].is_number(), "{philadelphia}");
    for unit in units {
        let code = unit["county"].as_str().unwrap();
        assert_eq!(
            unit["expected_votes"], unit["votes"],
            "{code}: all expected votes are in"
        );
        let candidates: std::collections::BTreeMap<String, u64> =
            serde_json::from_value(unit["candidates"].clone()).unwrap();
        let mut expected = want[code].clone();
        expected.retain(|_, n| *n > 0);
        assert_eq!(candidates, expected, "{code}");
    }
    // Every county of the country in the CSV, summing to the nation.
    let table = get(&format!("{base}/api/results.csv?level=county")).await;
    assert!(table.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains("results-by-county.csv"));
    let table = table.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(table.as_bytes());
    let header = reader.headers().unwrap().clone();
    assert_eq!(
        &header.iter().take(4).collect::<Vec<_>>(),
        &["state", "county", "name", "votes"]
    );
    let mut counted = 0u64;
    let mut seen = 0usize;
    for record in reader.records() {
        let record = record.unwrap();
        let votes: u64 = record[3].parse().unwrap();
        assert_eq!(votes, want[&record[1]].values().sum::<u64>(), "{}", &record[1]);
        counted += votes;
        seen += 1;
    }
    assert_eq!(seen, want.len());
    assert_eq!(Some(counted), national["votes"].as_u64());
    let (status, body) = error_status(&format!("{base}/api/results.csv?level=precinct")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"].as_str().unwrap().contains("precinct"), "{body}");
}
