//! The public disclosure page in a real browser: a node serves it, the Zhejiang demo fills the
//! registry, and headless Chromium (Debian's `chromium`) renders it; the test reads the text a
//! person sees and takes a screenshot. Chromium is required: without it the test fails with
//! instructions (`.ci/run` installs it), it is never skipped.
//!
//! The page is read at two widths, a desktop's (1280 CSS px) and a phone's (390): the default
//! year, the year picker, the language switch, the penalties with what they were computed from,
//! and, at each width, that nothing is wider than the window (wide tables scroll inside their
//! box). `CARBON_UPDATE_SCREENSHOT=1` also writes the screenshots to
//! `docs/img/disclosure-page.png` and `docs/img/disclosure-page-phone.png` (the README's).

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

/// The desktop's and the phone's widths (CSS px).
const WIDTHS: [u32; 2] = [1280, 390];

/// Headless Chromium's windows are at least 500 CSS px wide: a narrower screen is a frame of
/// that width inside the window, holding the rendered DOM (`srcdoc`), scaled to fill the
/// window. Returns the wrapper page's path.
fn framed(dom: &str, width: u32, height: u32, dir: &Path, probe: bool) -> PathBuf {
    let script = "<script>var e=document.documentElement;parent.document.body.setAttribute(\
                  'data-probe',(e.scrollWidth-e.clientWidth)+' '+window.innerWidth);</script></body>";
    let inner = if probe {
        dom.replace("</body>", script)
    } else {
        dom.to_string()
    };
    let srcdoc = inner.replace('&', "&amp;").replace('"', "&quot;");
    let scale = (f64::from(WINDOW_MIN) / f64::from(width)).max(1.0);
    let file = dir.join(format!("frame-{width}.html"));
    let page = format!(
        "<!DOCTYPE html><html><body style=\"margin:0;overflow:hidden\">\
         <iframe srcdoc=\"{srcdoc}\" style=\"border:0;width:{width}px;height:{height}px;\
         transform:scale({scale});transform-origin:0 0\"></iframe></body></html>"
    );
    std::fs::write(&file, page).expect("write the frame");
    file
}

/// The narrowest window headless Chromium opens (CSS px).
const WINDOW_MIN: u32 = 500;

/// How much wider than the screen the page lays out at `width` (0: nothing sticks out), and
/// the screen's width as the page saw it: the rendered DOM with a script that measures it (the
/// page itself has no script).
fn overflow_at(dom: &str, width: u32, dir: &Path) -> (i64, i64) {
    let file = framed(dom, width, 900, dir, true);
    let out = browse(
        &format!("file://{}", file.display()),
        &dir.join(format!("profile-{width}")),
        &[
            "--dump-dom",
            &format!("--window-size={},900", width.max(WINDOW_MIN)),
        ],
    );
    let v = out
        .split_once("data-probe=\"")
        .and_then(|(_, r)| r.split_once('"'))
        .map(|(v, _)| v.to_string())
        .unwrap_or_else(|| panic!("the probe ran: {out}"));
    let mut it = v.split(' ').map(|n| n.parse::<i64>().expect("a number"));
    (it.next().expect("overflow"), it.next().expect("width"))
}

/// The link of an `<a>` whose text is `text`, as the DOM has it (`&amp;` decoded).
fn link(dom: &str, text: &str) -> String {
    let end = dom
        .find(&format!(">{text}</a>"))
        .unwrap_or_else(|| panic!("no link {text:?} in {dom}"));
    let tag = &dom[dom[..end].rfind("<a ").expect("<a")..end];
    let href = tag.split_once("href=\"").expect("href").1;
    href[..href.find('"').expect("\"")].replace("&amp;", "&")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_citizen_reads_the_latest_year_switches_years_and_languages_on_a_desktop_and_a_phone() {
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
    let dir = cluster.dir.path().to_path_buf();
    let profile = dir.join("chromium");
    let year = demo_day / 10_000;
    let demo = carbon_proto::dates::format_date(demo_day);

    // The default page: the latest year with data, this year (the demo's cancellations and
    // its pending compliance records), in Chinese; the picker offers last year too.
    let dom = browse(&url, &profile, &["--dump-dom"]);
    let text = visible_text(&dom);
    sees(&text, "浙江省碳排放权注册登记系统 · 信息公开");
    assert!(
        dom.contains(&format!("<strong aria-current=\"page\">{year}</strong>")),
        "the default year is {year}: {text}"
    );
    sees(&text, &format!("{year} 年度履约结果"));
    sees(&text, "履约期尚未结束，结果为当前进度。");
    sees(&text, &format!("{year} 年自愿注销"));
    sees(&text, &format!("{demo} 湖州安吉余村零碳示范村（示例） ZJ-PILOT-AJ CCER 2025 ZJ-ZS-WIND-001 20,000 湖州安吉余村零碳示范村 2026年度村域运营碳中和（“两山”理念零碳试点）"));
    sees(&text, "BLUE_CARBON 2025 ZJ-XS-BLUE-001 10,000");
    sees(&text, "履约期结束后公布罚款及其参考价格、计算区间和倍数。");
    assert!(!text.contains("本年度暂无自愿注销"), "{text}");
    // Market prices: a point per kind and complete day with at least three trades
    // (public_aggregate_min): the demo's CCER trades; the axis' months carry their year.
    sees(&text, "碳市场成交均价（近12个月）");
    sees(&text, &format!("{demo} 核证自愿减排量 51.76 1,195,000"));
    sees(&text, &format!("{year}-{:02}", demo_day / 100 % 100));
    assert!(
        dom.contains("<svg") && dom.matches("<circle").count() == 1,
        "the chart has one point"
    );
    assert!(dom.matches("<polyline").count() == 1, "one series");
    sees(&text, "暂无未结回购或借碳。");
    for private in ["ZJ-BANK-01", "ZJ-BANK-02", "available", "可用"] {
        assert!(!text.contains(private), "the page shows {private:?}");
    }

    // The picker: last year's page, closed, with each penalty and what it was computed from.
    let last_year = link(&dom, &(year - 1).to_string());
    assert_eq!(last_year, format!("?year={}&lang=zh", year - 1));
    let dom = browse(&format!("{url}{last_year}"), &profile, &["--dump-dom"]);
    let text = visible_text(&dom);
    sees(&text, &format!("{} 年度履约结果", year - 1));
    sees(&text, "履约期已结束。");
    sees(&text, "绍兴柯桥印染有限公司（示例） ZJ-ENT-06 绍兴市 620,000 620,000 520,000 0 未足额履约 100,000 45,000,000.00");
    assert_eq!(text.matches("已履约").count(), 11, "{text}");
    // The demo closes with yesterday as the deadline and the fallback price (no CEA traded in
    // the month ending on it), multiplier 5.
    let deadline =
        carbon_proto::dates::date_of(carbon_proto::dates::start_ms(demo_day) - 86_400_000);
    let (first, last) = carbon_proto::dates::penalty_window(deadline);
    let (first, last) = (
        carbon_proto::dates::format_date(first),
        carbon_proto::dates::format_date(last),
    );
    sees(&text, &format!("{} 年度罚款及计算依据", year - 1));
    sees(
        &text,
        &format!(
            "清缴截止日（{}）前一个月，即 {first} 至 {last}（北京时间）",
            carbon_proto::dates::format_date(deadline)
        ),
    );
    sees(&text, &format!("绍兴柯桥印染有限公司（示例） ZJ-ENT-06 100,000 90.00 {first} – {last} × 5 45,000,000.00"));
    sees(
        &text,
        "丽水市 丽水百山祖林业碳汇项目（示例） ZJ-LS-FOR-001 林业碳汇 CCER-14-001-V01 400,000",
    );
    sees(&text, "各地区合计： 丽水市 400,000 t");
    assert!(!text.contains("Compliance results"), "Chinese only: {text}");

    // The language switch: the same year in English, and back.
    let en = link(&dom, "English");
    assert_eq!(en, format!("?year={}&lang=en", year - 1));
    let dom = browse(&format!("{url}{en}"), &profile, &["--dump-dom"]);
    let text = visible_text(&dom);
    sees(&text, "Zhejiang carbon registry · Public disclosure");
    sees(&text, &format!("Compliance results {}", year - 1));
    sees(&text, "The compliance year is closed.");
    sees(
        &text,
        "ZJ-ENT-06 绍兴市 620,000 620,000 520,000 0 Non-compliant 100,000 45,000,000.00",
    );
    sees(
        &text,
        &format!("Penalties {} and how they were computed", year - 1),
    );
    sees(&text, "Penalty = shortfall × reference price × multiplier.");
    sees(
        &text,
        &format!("ZJ-ENT-06 100,000 90.00 {first} – {last} × 5 45,000,000.00"),
    );
    sees(&text, "Issuance by region and project");
    for zh in ["履约结果", "罚款", "自愿注销", "签发"] {
        assert!(!text.contains(zh), "the English page shows {zh:?}: {text}");
    }
    assert_eq!(link(&dom, "中文"), format!("?year={}&lang=zh", year - 1));
    assert_eq!(
        link(&dom, &year.to_string()),
        format!("?year={year}&lang=en")
    );

    // At a desktop's and a phone's width nothing sticks out of the window, in either language.
    for width in WIDTHS {
        for page in [String::new(), last_year.clone(), en.clone()] {
            let dom = browse(&format!("{url}{page}"), &profile, &["--dump-dom"]);
            let (over, inner) = overflow_at(&dom, width, &dir);
            assert_eq!(inner, i64::from(width), "the window is {width} px wide");
            assert_eq!(over, 0, "{page:?} is {over} px wider than {width} px");
        }
    }

    // Bad parameters are refused with a message, not a broken page.
    for (q, says) in [
        ("?year=abc", "is not a year between 2000 and 2100"),
        ("?lang=fr", "is not zh or en"),
    ] {
        let text = visible_text(&browse(&format!("{url}{q}"), &profile, &["--dump-dom"]));
        sees(&text, says);
    }

    // Screenshots at both widths: what the README shows (last year's page, with penalties).
    for (width, height, name) in [
        (1280, 1500, "disclosure-page.png"),
        (390, 1800, "disclosure-page-phone.png"),
    ] {
        let shot = dir.join(name);
        let dom = browse(&format!("{url}{last_year}"), &profile, &["--dump-dom"]);
        let frame = framed(&dom, width, height, &dir, false);
        let scale = (f64::from(WINDOW_MIN) / f64::from(width)).max(1.0);
        browse(
            &format!("file://{}", frame.display()),
            &dir.join("profile-shot"),
            &[
                &format!(
                    "--window-size={},{}",
                    width.max(WINDOW_MIN),
                    (f64::from(height) * scale).round()
                ),
                &format!("--screenshot={}", shot.display()),
            ],
        );
        let png = std::fs::read(&shot).expect("a screenshot was written");
        assert!(
            png.starts_with(b"\x89PNG") && png.len() > 20_000,
            "{name}: {} bytes",
            png.len()
        );
        if std::env::var_os("CARBON_UPDATE_SCREENSHOT").is_some() {
            let dest = repo_root().join("docs/img").join(name);
            std::fs::create_dir_all(dest.parent().expect("docs/img")).expect("docs/img");
            std::fs::write(&dest, &png).expect("write the README's screenshot");
        }
    }
    drop(browser);
}
