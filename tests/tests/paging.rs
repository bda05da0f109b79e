//! List reads come in bounded pages with tokens, over real gRPC: a page never holds more than
//! asked (or than the node's limit), following the tokens reads everything exactly once, and a
//! token of another read is refused.

use carbon_proto::read_auth;
use carbon_proto::v1::{GetHistoryRequest, GetMarketStatsRequest, Role};
use carbon_tests::*;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_pages_follow_their_tokens_and_foreign_tokens_are_refused() {
    let cluster = Cluster::start(1, 10_000);
    cluster.wait_for_leader(&[0], Duration::from_secs(20)).await;
    let mut c = cluster.client(0).await;
    let reg = demo_key(REG);
    for i in 0..7 {
        let t = sign(
            &body(
                &[REG],
                open_account_op(&format!("PAGE-{i}"), Role::Individual),
            ),
            &[&reg],
        );
        assert_eq!(
            submit(&mut c, t).await.code(),
            carbon_proto::v1::ErrorCode::Ok
        );
    }
    let mut from = 0;
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let mut req = GetHistoryRequest {
            account_id: REG.into(),
            from_sequence: from,
            limit: 3,
            ..Default::default()
        };
        read_auth::sign(&mut req, CHAIN, REG, &reg, now_ms() + 60_000);
        let page = c.get_history(req).await.expect("a page").into_inner();
        assert!(page.transactions.len() <= 3);
        pages += 1;
        seen.extend(
            page.transactions
                .iter()
                .map(|t| t.outcome.clone().unwrap_or_default().sequence),
        );
        if page.next_sequence == 0 {
            break;
        }
        from = page.next_sequence;
        assert!(pages < 10, "the pages do not end");
    }
    assert_eq!(seen, (1..=7).collect::<Vec<u64>>());
    assert_eq!(pages, 3);

    // A token that is no key of this read.
    let e = c
        .get_market_stats(GetMarketStatsRequest {
            page_token: b"Xsomething-else".to_vec(),
            ..Default::default()
        })
        .await
        .expect_err("a foreign token");
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
}
