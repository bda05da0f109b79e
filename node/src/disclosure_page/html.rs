//! The page's HTML: the document, then one function per section (compliance, penalties,
//! cancellations, issuance, market, financing); a new section is a function taking the
//! [`PageData`] and the [`Lang`], called from [`render`]. Text is escaped where it is free text
//! (names, purposes, beneficiaries); every label has its Chinese and English form.

use super::data::PageData;
use super::svg;
use super::Lang;
use crate::ledger::dates;
use crate::limits::DISCLOSURE_TABLE_ROWS_MAX;
use carbon_proto::v1::*;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The whole document.
pub fn render(d: &PageData, lang: Lang) -> String {
    let mut o = String::with_capacity(64 * 1024);
    header(&mut o, d, lang);
    o.push_str("<main>");
    compliance_section(&mut o, d, lang);
    penalties_section(&mut o, d, lang);
    cancellations_section(&mut o, d, lang);
    issuance_section(&mut o, d, lang);
    market_section(&mut o, d, lang);
    financing_section(&mut o, d, lang);
    inclusion_section(&mut o, d, lang);
    super::art6::section(&mut o, &d.art6, d.year, lang);
    let _ = write!(
        o,
        "</main><footer>{}</footer></body></html>",
        lang.t(
            "本页仅展示公开信息，不含任何账户余额。",
            "This page shows public information only: no account balances."
        )
    );
    o
}

/// A link to this page for a year in a language.
fn href(year: u32, lang: Lang) -> String {
    format!("?year={year}&amp;lang={}", lang.code())
}

/// `<head>`, the title bar, the language switch, the year picker and the data's freshness.
fn header(o: &mut String, d: &PageData, lang: Lang) {
    let (title, other, other_name) = match lang {
        Lang::Zh => ("浙江省碳排放权注册登记系统 · 信息公开", Lang::En, "English"),
        Lang::En => (
            "Zhejiang carbon registry · Public disclosure",
            Lang::Zh,
            "中文",
        ),
    };
    let _ = write!(
        o,
        "<!DOCTYPE html><html lang=\"{html_lang}\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} {year}</title><style>{CSS}</style></head><body>\
         <header><div class=\"bar\"><h1>{title}</h1>\
         <nav class=\"lang\" aria-label=\"Language / 语言\"><a href=\"{other_href}\" hreflang=\"{other_code}\" lang=\"{other_code}\">{other_name}</a></nav></div>",
        html_lang = lang.t("zh-CN", "en"),
        year = d.year,
        other_href = href(d.year, other),
        other_code = other.code(),
    );
    let _ = write!(
        o,
        "<nav class=\"years\" aria-label=\"{}\"><span>{}</span>",
        lang.t("年度", "Year"),
        lang.t("年度：", "Year:")
    );
    for &y in &d.years {
        if y == d.year {
            let _ = write!(o, "<strong aria-current=\"page\">{y}</strong>");
        } else {
            let _ = write!(o, "<a href=\"{}\">{y}</a>", href(y, lang));
        }
    }
    let date = dates::format_date(d.today);
    let seq = d.head.sequence;
    let chain = esc(&d.head.chain_id);
    let _ = write!(
        o,
        "</nav><p class=\"meta\">{}</p></header>",
        match lang {
            Lang::Zh => format!("数据截至链上序号 {seq}（{date}，北京时间）· 链 {chain}"),
            Lang::En =>
                format!("As of chain sequence {seq}, {date} (China Standard Time) · chain {chain}"),
        }
    );
}

/// A section's opening: its id and title.
fn section(o: &mut String, id: &str, title: &str) {
    let _ = write!(o, "<section id=\"{id}\"><h2>{title}</h2>");
}

fn note(o: &mut String, text: &str) {
    let _ = write!(o, "<p class=\"note\">{text}</p>");
}

/// An enterprise or holder: its name, and its account id below.
fn who(d: &PageData, id: &str) -> String {
    format!("{}<br><small>{}</small>", esc(&d.named(id).name), esc(id))
}

fn compliance_section(o: &mut String, d: &PageData, lang: Lang) {
    let y = d.year;
    section(
        o,
        "compliance",
        &match lang {
            Lang::Zh => format!("{y} 年度履约结果"),
            Lang::En => format!("Compliance results {y}"),
        },
    );
    note(
        o,
        if d.closed {
            lang.t("履约期已结束。", "The compliance year is closed.")
        } else {
            lang.t(
                "履约期尚未结束，结果为当前进度。",
                "The year is not closed: figures are progress so far.",
            )
        },
    );
    let rows = d
        .disclosure
        .compliance
        .iter()
        .map(|r| {
            let (status, class) = status_label(r, lang);
            vec![
                who(d, &r.enterprise_id),
                esc(&d.named(&r.enterprise_id).region),
                units(r.verified_emissions),
                units(r.obligation),
                units(r.surrendered_allowances),
                units(r.surrendered_credits),
                format!("<span class=\"{class}\">{status}</span>"),
                units(r.shortfall),
                yuan(r.penalty_fen),
            ]
        })
        .collect();
    let header = match lang {
        Lang::Zh => [
            "重点排放单位",
            "地区",
            "核查排放量（吨）",
            "应清缴（吨）",
            "配额清缴（吨）",
            "抵销（吨）",
            "状态",
            "缺口（吨）",
            "罚款（元）",
        ],
        Lang::En => [
            "Enterprise",
            "Region",
            "Verified emissions (t)",
            "Obligation (t)",
            "Allowances surrendered (t)",
            "Offsets surrendered (t)",
            "Status",
            "Shortfall (t)",
            "Penalty (CNY)",
        ],
    };
    let empty = lang.t(
        "本年度暂无履约记录。",
        "No compliance records for this year.",
    );
    table(o, &header, rows, empty, lang);
    if d.truncated {
        note(
            o,
            lang.t(
                "本年度记录过多，部分未显示，请使用登记系统接口查询。",
                "This year has more records than the page reads: use the registry API for the rest.",
            ),
        );
    }
    o.push_str("</section>");
}

/// Each penalty with what it was computed from (domain rule 11): shortfall x the reference
/// price of the month ending on the deadline x the close's multiplier.
fn penalties_section(o: &mut String, d: &PageData, lang: Lang) {
    let y = d.year;
    section(
        o,
        "penalties",
        &match lang {
            Lang::Zh => format!("{y} 年度罚款及计算依据"),
            Lang::En => format!("Penalties {y} and how they were computed"),
        },
    );
    let Some(close) = &d.close else {
        note(
            o,
            lang.t(
                "履约期结束后公布罚款及其参考价格、计算区间和倍数。",
                "Penalties, with their reference price, window and multiplier, are shown once the year is closed.",
            ),
        );
        o.push_str("</section>");
        return;
    };
    let (first, last) = dates::penalty_window(close.deadline_date);
    let (first, last) = (dates::format_date(first), dates::format_date(last));
    let deadline = dates::format_date(close.deadline_date);
    let price = yuan(close.reference_price_fen);
    let m = close.penalty_multiplier;
    note(o, &match lang {
        Lang::Zh => format!(
            "罚款 = 缺口 × 参考价格 × 倍数。参考价格为清缴截止日（{deadline}）前一个月，即 {first} 至 {last}（北京时间）碳排放配额（CEA）成交量加权平均价：{price} 元/吨（该期间无成交时为关闭履约年度时设定的备用价格）；倍数：{m}。"
        ),
        Lang::En => format!(
            "Penalty = shortfall × reference price × multiplier. The reference price is the volume-weighted average price of the allowance (CEA) trades of the month ending on the surrender deadline ({deadline}), {first} to {last} (China Standard Time): CNY {price} per tonne (the close's fallback price had nothing traded then); multiplier: {m}."
        ),
    });
    let window = format!("{first} – {last}");
    let rows = d
        .disclosure
        .compliance
        .iter()
        .filter(|r| r.shortfall > 0 || r.penalty_fen > 0)
        .map(|r| {
            vec![
                who(d, &r.enterprise_id),
                units(r.shortfall),
                price.clone(),
                window.clone(),
                format!("× {m}"),
                yuan(r.penalty_fen),
            ]
        })
        .collect();
    let header = match lang {
        Lang::Zh => [
            "重点排放单位",
            "缺口（吨）",
            "参考价格（元/吨）",
            "参考价格区间",
            "倍数",
            "罚款（元）",
        ],
        Lang::En => [
            "Enterprise",
            "Shortfall (t)",
            "Reference price (CNY/t)",
            "Price window",
            "Multiplier",
            "Penalty (CNY)",
        ],
    };
    let empty = lang.t("本年度无罚款。", "No penalties this year.");
    table(o, &header, rows, empty, lang);
    o.push_str("</section>");
}

fn cancellations_section(o: &mut String, d: &PageData, lang: Lang) {
    let y = d.year;
    section(
        o,
        "cancellations",
        &match lang {
            Lang::Zh => format!("{y} 年自愿注销"),
            Lang::En => format!("Voluntary cancellations {y}"),
        },
    );
    note(
        o,
        lang.t(
            "按注销登记日（北京时间）所在年度公开。",
            "Disclosed under the calendar year (China Standard Time) in which the cancellation was recorded.",
        ),
    );
    let rows = d
        .disclosure
        .cancellations
        .iter()
        .map(|c| {
            let class = c.unit_class.clone().unwrap_or_default();
            vec![
                dates::format_date(dates::date_of(c.timestamp_ms)),
                who(d, &c.holder),
                esc(&class_label(&class)),
                units(c.quantity),
                esc(&c.beneficiary),
                esc(&c.purpose),
            ]
        })
        .collect();
    let header = match lang {
        Lang::Zh => ["日期", "注销方", "类别", "数量（吨）", "受益方", "用途"],
        Lang::En => [
            "Date",
            "Holder",
            "Unit class",
            "Quantity (t)",
            "Beneficiary",
            "Purpose",
        ],
    };
    let empty = lang.t(
        "本年度暂无自愿注销。",
        "No cancellations recorded this year.",
    );
    table(o, &header, rows, empty, lang);
    o.push_str("</section>");
}

/// Issuance of the monitoring year, per project (with its region), and totals by region.
fn issuance_section(o: &mut String, d: &PageData, lang: Lang) {
    let y = d.year;
    section(
        o,
        "issuance",
        &match lang {
            Lang::Zh => format!("{y} 年度签发（按地区和项目）"),
            Lang::En => format!("Issuance by region and project, monitoring year {y}"),
        },
    );
    let projects: BTreeMap<&str, &Project> = d
        .disclosure
        .projects
        .iter()
        .map(|p| (p.project_id.as_str(), p))
        .collect();
    let mut by_project: BTreeMap<(String, String), (u64, u32)> = BTreeMap::new();
    for i in &d.disclosure.issuances {
        let region = projects
            .get(i.project_id.as_str())
            .map_or(String::new(), |p| p.region.clone());
        let e = by_project
            .entry((region, i.project_id.clone()))
            .or_default();
        e.0 = e.0.saturating_add(i.quantity);
        e.1 += 1;
    }
    let rows = by_project
        .iter()
        .map(|((region, id), (q, n))| {
            let p = projects.get(id.as_str());
            vec![
                esc(region),
                format!(
                    "{}<br><small>{}</small>",
                    esc(p.map_or("", |p| p.name.as_str())),
                    esc(id)
                ),
                p.map_or("?", |p| kind_label(p.kind(), lang)).to_string(),
                esc(p.map_or("", |p| p.methodology.as_str())),
                units(*q),
                n.to_string(),
                units(p.map_or(0, |p| p.issued_total)),
            ]
        })
        .collect();
    let header = match lang {
        Lang::Zh => [
            "地区",
            "项目",
            "类型",
            "方法学",
            "本年签发（吨）",
            "签发次数",
            "累计签发（吨）",
        ],
        Lang::En => [
            "Region",
            "Project",
            "Kind",
            "Methodology",
            "Issued this year (t)",
            "Issuances",
            "Total issued (t)",
        ],
    };
    let empty = lang.t("本年度暂无签发。", "No issuance for this monitoring year.");
    table(o, &header, rows, empty, lang);
    region_totals(o, &by_project, lang);
    o.push_str("</section>");
}

fn region_totals(o: &mut String, by_project: &BTreeMap<(String, String), (u64, u32)>, lang: Lang) {
    let mut totals: BTreeMap<&str, u64> = BTreeMap::new();
    for ((region, _), (q, _)) in by_project {
        let t = totals.entry(region.as_str()).or_default();
        *t = t.saturating_add(*q);
    }
    if totals.is_empty() {
        return;
    }
    let parts: Vec<String> = totals
        .iter()
        .map(|(r, q)| format!("{} {} t", esc(r), units(*q)))
        .collect();
    let _ = write!(
        o,
        "<p class=\"totals\">{} {}</p>",
        lang.t("各地区合计：", "Totals by region:"),
        parts.join(" · ")
    );
}

/// The last twelve months' daily prices: the chart, its legend and the figures behind it.
fn market_section(o: &mut String, d: &PageData, lang: Lang) {
    section(
        o,
        "market",
        lang.t(
            "碳市场成交均价（近12个月）",
            "Market prices, last twelve months",
        ),
    );
    let (first, today) = (
        dates::format_date(d.market_first),
        dates::format_date(d.today),
    );
    note(o, &match lang {
        Lang::Zh => format!("{first} 至 {today}，按日成交量加权平均价（元/吨）；仅含已结束且成交不少于最低笔数的交易日。"),
        Lang::En => format!("{first} to {today}: daily volume-weighted average price, CNY per tonne; complete days with at least the minimum number of trades only."),
    });
    let s = svg::series(&d.market);
    if s.is_empty() {
        let _ = write!(
            o,
            "<p class=\"empty\">{}</p></section>",
            lang.t("近12个月无成交。", "No trades in the last twelve months.")
        );
        return;
    }
    o.push_str("<div class=\"chartbox\">");
    svg::chart(o, &s, d.market_first, d.today, lang);
    o.push_str("</div><ul class=\"legend\">");
    for kind in s.keys() {
        let _ = write!(
            o,
            "<li><span style=\"background:{}\"></span>{}</li>",
            svg::color(*kind),
            kind_label(UnitKind::try_from(*kind).unwrap_or_default(), lang)
        );
    }
    o.push_str("</ul>");
    price_table(o, &s, lang);
    o.push_str("</section>");
}

/// The figures behind the chart, latest first.
fn price_table(o: &mut String, s: &svg::Series, lang: Lang) {
    let mut rows: Vec<(u32, i32, u64, u64)> = s
        .iter()
        .flat_map(|(k, pts)| pts.iter().map(move |&(d, p, v)| (d, *k, p, v)))
        .collect();
    rows.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let rows = rows
        .into_iter()
        .map(|(d, k, p, v)| {
            vec![
                dates::format_date(d),
                kind_label(UnitKind::try_from(k).unwrap_or_default(), lang).to_string(),
                yuan(p),
                units(v),
            ]
        })
        .collect();
    let header = match lang {
        Lang::Zh => ["日期", "类别", "均价（元/吨）", "成交量（吨）"],
        Lang::En => ["Date", "Kind", "Average (CNY/t)", "Volume (t)"],
    };
    table(o, &header, rows, "", lang);
}

fn financing_section(o: &mut String, d: &PageData, lang: Lang) {
    section(
        o,
        "financing",
        lang.t(
            "未结回购与借碳（按类别）",
            "Open repos and loans by unit class",
        ),
    );
    note(o, lang.t(
        "当前数据，不含交易对手；不足最低笔数的类别不予公布（—）。",
        "Current positions, without counterparties; a figure over fewer than the minimum number of contracts is withheld (—).",
    ));
    let withheld = |shown: bool, n: String| if shown { n } else { "—".to_string() };
    let rows = d
        .disclosure
        .financing
        .iter()
        .map(|f| {
            vec![
                esc(&class_label(&f.unit_class.clone().unwrap_or_default())),
                withheld(!f.repos_withheld, f.open_repos.to_string()),
                withheld(!f.repos_withheld, units(f.repo_units)),
                withheld(!f.loans_withheld, f.open_loans.to_string()),
                withheld(!f.loans_withheld, units(f.loan_units)),
            ]
        })
        .collect();
    let header = match lang {
        Lang::Zh => [
            "类别",
            "回购笔数",
            "回购数量（吨）",
            "借碳笔数",
            "借出未还（吨）",
        ],
        Lang::En => [
            "Unit class",
            "Open repos",
            "Under repo (t)",
            "Open loans",
            "Lent (t)",
        ],
    };
    let empty = lang.t("暂无未结回购或借碳。", "No open repos or loans.");
    table(o, &header, rows, empty, lang);
    o.push_str("</section>");
}

/// Grams CO2e as tonnes with three decimals (kilogram precision).
fn tonnes(grams: u64) -> String {
    format!("{}.{:03}", grams / 1_000_000, grams % 1_000_000 / 1_000)
}

/// Rule 16: what the inclusion platforms recorded and converted in the year, per city,
/// platform and methodology (never a person's points).
fn inclusion_section(o: &mut String, d: &PageData, lang: Lang) {
    section(
        o,
        "inclusion",
        lang.t(
            "碳普惠：减排量记录与转化",
            "Carbon inclusion (碳普惠): reductions recorded and converted",
        ),
    );
    note(o, lang.t(
        "平台按已批准的方法学汇总记录的个人减排量，整吨转化为碳普惠减排量（PHCER）；不公布个人积分。",
        "Personal reductions recorded by platforms under approved methodologies; whole tonnes convert into inclusion credits (PHCER). No person's points are shown.",
    ));
    let rows = d
        .disclosure
        .inclusion
        .iter()
        .map(|t| {
            vec![
                esc(&t.city),
                who(d, &t.platform_id),
                esc(&t.methodology),
                tonnes(t.recorded_grams),
                tonnes(t.converted_grams),
            ]
        })
        .collect();
    let header = match lang {
        Lang::Zh => ["城市", "平台", "方法学", "记录（吨）", "已转化（吨）"],
        Lang::En => [
            "City",
            "Platform",
            "Methodology",
            "Recorded (t)",
            "Converted (t)",
        ],
    };
    let empty = lang.t("本年度暂无碳普惠记录。", "No inclusion records this year.");
    table(o, &header, rows, empty, lang);
    o.push_str("</section>");
}

/// A table that scrolls sideways inside its section on a narrow screen; rows are already
/// escaped HTML cells.
pub fn table(o: &mut String, header: &[&str], rows: Vec<Vec<String>>, empty: &str, lang: Lang) {
    if rows.is_empty() {
        if !empty.is_empty() {
            let _ = write!(o, "<p class=\"empty\">{empty}</p>");
        }
        return;
    }
    let total = rows.len();
    o.push_str("<div class=\"scroll\"><table><thead><tr>");
    for h in header {
        let _ = write!(o, "<th>{h}</th>");
    }
    o.push_str("</tr></thead><tbody>");
    for r in rows.into_iter().take(DISCLOSURE_TABLE_ROWS_MAX) {
        o.push_str("<tr>");
        for c in r {
            let _ = write!(o, "<td>{c}</td>");
        }
        o.push_str("</tr>");
    }
    o.push_str("</tbody></table></div>");
    if let Some(more) = total
        .checked_sub(DISCLOSURE_TABLE_ROWS_MAX)
        .filter(|m| *m > 0)
    {
        let _ = write!(
            o,
            "<p class=\"more\">{}</p>",
            match lang {
                Lang::Zh => format!("另有 {more} 行未显示，请使用登记系统接口查询。"),
                Lang::En => format!("{more} more rows are not shown: use the registry API."),
            }
        );
    }
}

/// Escapes text for HTML (names, purposes and beneficiaries are free text).
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// Fen as yuan with thousands separators: 4500000000 -> 45,000,000.00.
pub fn yuan(fen: u64) -> String {
    format!("{}.{:02}", units(fen / 100), fen % 100)
}

/// Thousands separators: 1234567 -> 1,234,567.
pub fn units(n: u64) -> String {
    let s = n.to_string();
    let mut o = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            o.push(',');
        }
        o.push(c);
    }
    o
}

pub fn kind_label(k: UnitKind, lang: Lang) -> &'static str {
    match (k, lang) {
        (UnitKind::Cea, Lang::Zh) => "碳排放配额",
        (UnitKind::Cea, Lang::En) => "Allowance (CEA)",
        (UnitKind::Ccer, Lang::Zh) => "核证自愿减排量",
        (UnitKind::Ccer, Lang::En) => "Certified reduction (CCER)",
        (UnitKind::Forestry, Lang::Zh) => "林业碳汇",
        (UnitKind::Forestry, Lang::En) => "Forestry sink",
        (UnitKind::BlueCarbon, Lang::Zh) => "海洋/湿地蓝碳",
        (UnitKind::BlueCarbon, Lang::En) => "Blue carbon",
        (UnitKind::Phcer, Lang::Zh) => "普惠核证减排量",
        (UnitKind::Phcer, Lang::En) => "Inclusion credit (PHCER)",
        (UnitKind::Unspecified, _) => "?",
    }
}

// A unit class as the registry writes it (`CCER 2025 ZJ-ZS-WIND-001`): the same in both
// languages, as on statements.
use carbon_proto::names::class_label;

fn status_label(r: &ComplianceRecord, lang: Lang) -> (&'static str, &'static str) {
    match r.status() {
        ComplianceStatus::Compliant => (lang.t("已履约", "Compliant"), "ok"),
        ComplianceStatus::NonCompliant => (lang.t("未足额履约", "Non-compliant"), "bad"),
        _ => (lang.t("待清缴", "Pending"), "pending"),
    }
}

/// The page's style. Narrow screens (a phone, under 700 CSS px): smaller margins, wide tables
/// scroll inside their box (`.scroll`), the chart's tick labels are enlarged and every other
/// month tick hidden (the chart scales down with the screen).
const CSS: &str = "*{box-sizing:border-box}\
body{font-family:'Noto Sans CJK SC','Noto Sans SC','PingFang SC','Microsoft YaHei',sans-serif;margin:0;color:#1b2631;background:#f4f6f7;line-height:1.45;-webkit-text-size-adjust:100%}\
header{background:#145a32;color:#fff;padding:18px 32px}header h1{margin:0;font-size:26px}\
header .bar{display:flex;flex-wrap:wrap;align-items:baseline;justify-content:space-between;gap:8px}\
header a{color:#d5f5e3}nav.lang a{font-size:15px;border:1px solid #d5f5e3;border-radius:4px;padding:2px 10px;text-decoration:none}\
nav.years{margin:10px 0 0;display:flex;flex-wrap:wrap;gap:6px;align-items:center}\
nav.years a,nav.years strong{padding:2px 10px;border-radius:4px}nav.years a{background:rgba(255,255,255,.12)}\
nav.years strong{background:#fff;color:#145a32}\
header .meta{font-size:13px;opacity:.85;margin:8px 0 0;overflow-wrap:anywhere}main{padding:8px 32px 24px}\
section{background:#fff;border-radius:6px;padding:14px 20px;margin:16px 0;box-shadow:0 1px 3px rgba(0,0,0,.08)}\
h2{font-size:20px;margin:4px 0 8px}\
.scroll{overflow-x:auto;-webkit-overflow-scrolling:touch;max-width:100%}\
table{border-collapse:collapse;width:100%;font-size:14px}th,td{border-bottom:1px solid #e5e8e8;padding:6px 8px;text-align:left;vertical-align:top}\
th{background:#eafaf1;font-weight:600}td small{color:#7f8c8d}.ok{color:#1e8449}.bad{color:#c0392b;font-weight:600}.pending{color:#b9770e}\
.note,.empty,.more,.totals{color:#566573;font-size:13px}.chartbox{max-width:900px}.chart{width:100%;height:auto;display:block}\
.grid{stroke:#d5d8dc;stroke-width:1}.tick,.axis{font-size:13px;fill:#566573}\
.legend{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:8px 18px;font-size:14px}.legend span{display:inline-block;width:14px;height:14px;margin-right:6px;vertical-align:middle;border-radius:2px}\
footer{padding:12px 32px 28px;color:#566573;font-size:13px}\
@media (max-width:700px){header{padding:14px 14px}header h1{font-size:20px}main{padding:4px 8px 16px}\
section{padding:10px 10px;margin:10px 0}h2{font-size:17px}table{font-size:13px}th,td{padding:5px 6px}\
th{white-space:nowrap}td:first-child{min-width:9em}.tick,.axis{font-size:26px}.odd{display:none}footer{padding:10px 14px 20px}}";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_numbers_grouped() {
        assert_eq!(
            esc("<b>\"x\" & 'y'</b>"),
            "&lt;b&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/b&gt;"
        );
        assert_eq!(units(1_234_567), "1,234,567");
        assert_eq!(units(12), "12");
        assert_eq!(yuan(4_500_000_000), "45,000,000.00");
        assert_eq!(yuan(5), "0.05");
    }
}
