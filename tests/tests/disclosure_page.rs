//! The public disclosure page in a real browser: a node serves it, the Zhejiang demo fills the
//! registry, and headless Chromium (Debian's `chromium`) renders it; the test reads the text a
//! person sees and takes a screenshot. Chromium is required: without it the test fails with
//! instructions (`.ci/run` installs it), it is never skipped.
//!
//! `CARBON_UPDATE_SCREENSHOT=1` also writes the screenshot to `docs/img/disclosure-page.png`.

use carbon_tests::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn chromium() -> PathBuf {
    if let Some(p) = std::env::var_os("CHROMIUM") {
        return PathBuf::from(p);
    }
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .flat_map(|d| ["chromium", "chromium-browser"].map(|n| d.join(n)))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| {
        panic!(
            "Chromium is not installed, and this test needs a real browser: \
             run `apt-get install -y chromium` (.ci/run does), or set CHROMIUM to its path"
        )
    })
}

/// Runs headless Chromium on `url` with `args`; returns stdout. Bounded to 90 s.
fn browse(url: &str, profile: &Path, args: &[&str]) -> String {
    let mut child = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromium starts");
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        match child.try_wait().expect("wait") {
            Some(_) => break,
            None if Instant::now() > deadline => {
                let _ = child.kill();
                panic!("chromium did not finish within 90 s for {url}");
            }
            None => std::thread::sleep(Duration::from_millis(100)),
        }
    }
    let out = child.wait_with_output().expect("chromium output");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The text a person sees in a rendered DOM: the body without styles and without the chart's
/// hover tooltips, tags removed, entities decoded, whitespace collapsed.
fn visible_text(dom: &str) -> String {
    let body = dom.split_once("<body").map_or(dom, |(_, b)| b);
    let mut s = String::new();
    let mut rest = body;
    // Drop <style>…</style> and <title>…</title> (SVG tooltips show only on hover).
    while let Some(i) = rest.find(['<']) {
        s.push_str(&rest[..i]);
        rest = &rest[i..];
        let hidden = ["<style", "<title"]
            .iter()
            .find(|t| rest.starts_with(**t))
            .map(|t| format!("</{}>", &t[1..]));
        match hidden {
            Some(end) => match rest.find(&end) {
                Some(j) => rest = &rest[j + end.len()..],
                None => rest = "",
            },
            None => match rest.find('>') {
                Some(j) => {
                    s.push(' ');
                    rest = &rest[j + 1..];
                }
                None => rest = "",
            },
        }
    }
    s.push_str(rest);
    let s = s
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&");
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[track_caller]
fn sees(text: &str, what: &str) {
    assert!(
        text.contains(what),
        "the page does not show {what:?}:\n{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_citizen_sees_compliance_cancellations_sinks_and_prices_in_a_browser() {
    let browser = chromium();
    let (mut cluster, url) = Cluster::start_with_page();
    cluster.wait_for_leader(&[0], Duration::from_secs(20)).await;
    let ep = cluster.endpoints();
    let (code, _, err) = ctl(&ep, &["demo"]);
    assert_eq!(code, 0, "the demo runs: {err}");
    // The public sees a day's market figures once the day is over: the page is read the next
    // day (the node's clock a day ahead).
    let demo_day = carbon_proto::dates::date_of(now_ms());
    cluster.stop(0);
    cluster.nodes[0].env = vec![("CARBON_CLOCK_OFFSET_MS".into(), "86400000".into())];
    cluster.spawn(0);
    cluster.wait_for_leader(&[0], Duration::from_secs(20)).await;
    let profile = cluster.dir.path().join("chromium");
    let year = carbon_proto::dates::date_of(now_ms()) / 10_000;

    // The default page: last year's compliance results.
    let dom = browse(&url, &profile, &["--dump-dom"]);
    let text = visible_text(&dom);
    sees(&text, "浙江省碳排放权注册登记系统 · 信息公开");
    sees(&text, "Public disclosure");
    sees(
        &text,
        &format!("{} 年度履约结果 Compliance results {}", year - 1, year - 1),
    );
    sees(&text, "履约期已结束 · The compliance year is closed.");
    sees(&text, "绍兴柯桥印染有限公司（示例） ZJ-ENT-06 绍兴市 620,000 620,000 520,000 0 未足额履约 Non-compliant 100,000 45,000,000.00");
    assert_eq!(text.matches("已履约 Compliant").count(), 11, "{text}");
    // Issuance by region and project: Lishui forestry, Zhoushan offshore wind, Xiangshan blue carbon.
    sees(&text, "丽水市 丽水百山祖林业碳汇项目（示例） ZJ-LS-FOR-001 林业碳汇 Forestry sink CCER-14-001-V01 400,000");
    sees(
        &text,
        "舟山市 舟山岱山海上风电项目（示例） ZJ-ZS-WIND-001 核证自愿减排量 CCER",
    );
    sees(&text, "象山港红树林与盐沼湿地蓝碳项目（示例） ZJ-XS-BLUE-001 海洋/湿地蓝碳 Blue carbon CCER-14-002-V01 60,000");
    sees(&text, "各地区合计 Totals by region: 丽水市 400,000 t");
    // Market prices as a chart: a point per kind and complete day with at least three trades
    // (public_aggregate_min): the demo's CCER trades; its CEA, forestry and blue-carbon trades
    // of the day are fewer, so withheld.
    sees(
        &text,
        "碳市场成交均价（近12个月） Market prices, last twelve months",
    );
    let demo = carbon_proto::dates::format_date(demo_day);
    sees(
        &text,
        &format!("{demo} 核证自愿减排量 CCER 51.76 1,195,000"),
    );
    for withheld in [
        "碳排放配额 CEA",
        "林业碳汇 Forestry sink 日期",
        "海洋/湿地蓝碳 Blue carbon 日期",
    ] {
        assert!(
            !text.contains(&format!("{demo} {withheld}")),
            "the chart shows {withheld}"
        );
    }
    assert!(
        dom.contains("<svg") && dom.matches("<circle").count() == 1,
        "the chart has one point"
    );
    assert!(dom.matches("<polyline").count() == 1, "one series");
    // The demo's repo and loan were closed: no open positions; no private balances or parties.
    sees(&text, "暂无未结回购或借碳 · No open repos or loans.");
    for private in ["ZJ-BANK-01", "ZJ-BANK-02", "available", "可用"] {
        assert!(!text.contains(private), "the page shows {private:?}");
    }

    // This year's page: the pilot's cancellations with beneficiary and purpose.
    let text = visible_text(&browse(
        &format!("{url}?year={year}"),
        &profile,
        &["--dump-dom"],
    ));
    sees(
        &text,
        &format!("{year} 年自愿注销 Voluntary cancellations {year}"),
    );
    sees(
        &text,
        "Disclosed under the calendar year (CST) in which the cancellation was recorded.",
    );
    sees(&text, &format!("{demo} 湖州安吉余村零碳示范村（示例） ZJ-PILOT-AJ CCER 2025 ZJ-ZS-WIND-001 20,000 湖州安吉余村零碳示范村 2026年度村域运营碳中和（“两山”理念零碳试点）"));
    sees(&text, "BLUE_CARBON 2025 ZJ-XS-BLUE-001 10,000");
    sees(&text, "履约期尚未结束");
    // A bad year is refused with a message, not a broken page.
    let text = visible_text(&browse(
        &format!("{url}?year=abc"),
        &profile,
        &["--dump-dom"],
    ));
    sees(&text, "is not a year between 2000 and 2100");

    // A screenshot: what the README shows.
    let shot = cluster.dir.path().join("disclosure-page.png");
    browse(
        &format!("{url}?year={}", year - 1),
        &profile,
        &[
            "--window-size=1280,2300",
            &format!("--screenshot={}", shot.display()),
        ],
    );
    let png = std::fs::read(&shot).expect("a screenshot was written");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 50_000,
        "{} bytes",
        png.len()
    );
    if std::env::var_os("CARBON_UPDATE_SCREENSHOT").is_some() {
        let dest = repo_root().join("docs/img/disclosure-page.png");
        std::fs::create_dir_all(dest.parent().expect("docs/img")).expect("docs/img");
        std::fs::write(&dest, &png).expect("write the README's screenshot");
    }
    drop(browser);
}
