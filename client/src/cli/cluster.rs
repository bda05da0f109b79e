//! `cluster status` and `cluster health`: what an operator asks first. Status is the leader's
//! view (each member's replication and lag) plus each member's own health answer; health asks
//! endpoints directly, like `etcdctl endpoint health`.

use super::ctx::{Ctx, Res};
use super::show::{self, Output};
use base64::Engine;
use carbon_client::client::{channel, TlsOptions};
use carbon_client::ClientError;
use carbon_proto::v1 as pb;
use serde::Serialize;
use std::time::{Duration, Instant};
use tonic_health::pb::{health_client::HealthClient, HealthCheckRequest};

/// One endpoint's answer to `grpc.health.v1.Health/Check` for the whole server ("").
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Health {
    pub endpoint: String,
    pub healthy: bool,
    /// SERVING, NOT_SERVING, ... or `unreachable`.
    pub status: String,
    pub took_ms: f64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub error: String,
}

pub async fn probe(endpoint: &str, tls: &TlsOptions, timeout: Duration) -> Health {
    let started = Instant::now();
    let answer = async {
        let channel = channel(endpoint, tls, timeout).map_err(|e| e.to_string())?;
        let r = HealthClient::new(channel)
            .check(HealthCheckRequest {
                service: String::new(),
            })
            .await
            .map_err(|s| format!("{}: {}", s.code(), s.message()))?;
        Ok::<_, String>(r.into_inner().status())
    };
    let answer = tokio::time::timeout(timeout, answer)
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {timeout:?}")));
    let took_ms = started.elapsed().as_secs_f64() * 1e3;
    match answer {
        Ok(s) => Health {
            endpoint: endpoint.to_string(),
            healthy: s == tonic_health::pb::health_check_response::ServingStatus::Serving,
            status: s.as_str_name().to_string(),
            took_ms,
            error: String::new(),
        },
        Err(e) => Health {
            endpoint: endpoint.to_string(),
            healthy: false,
            status: "unreachable".into(),
            took_ms,
            error: e,
        },
    }
}

/// The cluster status as `ctx` may read it: with members' addresses and lag as the regulator
/// (`--as`) or with the cluster admin key (`--key`), else the public view.
pub async fn read_status(ctx: &mut Ctx) -> Res<pb::ClusterStatusResponse> {
    if ctx.actor.is_some() {
        let who = ctx.read_as()?;
        return ctx.client.cluster_status(false, Some(&who), None).await;
    }
    let admin = match ctx.keys.first() {
        Some(_) => {
            let key = super::commands::admin_key(ctx)?;
            let chain = ctx.client.chain_id().await?;
            Some(super::commands::admin_request(
                &chain,
                pb::admin_body::Action::ClusterStatus(pb::ReadClusterStatus {}),
                &key,
            ))
        }
        None => None,
    };
    ctx.client.cluster_status(false, None, admin).await
}

pub async fn health(ctx: &mut Ctx, whole_cluster: bool) -> Res<()> {
    let endpoints: Vec<String> = if whole_cluster {
        let s = read_status(ctx).await?;
        if !s.detail {
            return Err(ClientError::local(
                "the members' addresses are shown to the regulator (--as) or with the cluster \
                 admin key (--key) only",
            ));
        }
        s.members.into_iter().map(|m| m.client_address).collect()
    } else {
        ctx.client.endpoints().to_vec()
    };
    let mut answers = Vec::new();
    for e in &endpoints {
        answers.push(probe(e, &ctx.tls, ctx.timeout).await);
    }
    match show::output() {
        Output::Json => show::json(&answers),
        Output::Csv => println!(
            "{}",
            show::table(
                &["endpoint", "healthy", "status", "took ms", "error"],
                answers
                    .iter()
                    .map(|h| {
                        vec![
                            h.endpoint.clone(),
                            h.healthy.to_string(),
                            h.status.clone(),
                            format!("{:.1}", h.took_ms),
                            h.error.clone(),
                        ]
                    })
                    .collect(),
            )
        ),
        Output::Table => {
            for h in &answers {
                let (word, why) = if h.healthy {
                    ("healthy", "SERVING".to_string())
                } else if h.error.is_empty() {
                    ("unhealthy", h.status.clone())
                } else {
                    ("unhealthy", h.error.clone())
                };
                println!("{} is {word}: {why}, took {:.1} ms", h.endpoint, h.took_ms);
            }
        }
    }
    let sick = answers.iter().filter(|h| !h.healthy).count();
    if sick > 0 {
        return Err(ClientError::local(format!(
            "{sick} of {} endpoints are unhealthy",
            answers.len()
        )));
    }
    Ok(())
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct MemberView {
    node_id: u64,
    voter: bool,
    leader: bool,
    health: String,
    client_address: String,
    peer_address: String,
    matched_index: u64,
    lag_entries: u64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct StatusView {
    answered_by: u64,
    /// What the answering node is (leader, follower, recovering, ...).
    role: String,
    leader_id: u64,
    term: u64,
    commit_index: u64,
    applied_index: u64,
    last_log_index: u64,
    snapshot_index: u64,
    cluster_admin_key: String,
    members: Vec<MemberView>,
}

pub async fn status(ctx: &mut Ctx) -> Res<()> {
    let s = read_status(ctx).await?;
    let mut health = Vec::with_capacity(s.members.len());
    for m in s.members.iter().filter(|_| s.detail) {
        let h = probe(&m.client_address, &ctx.tls, ctx.timeout).await;
        health.push(if h.error.is_empty() {
            h.status
        } else {
            format!("unreachable ({})", h.error)
        });
    }
    print(&s, health);
    Ok(())
}

/// Prints a cluster status (table, JSON or CSV) with each member's health as probed, in the
/// order of `s.members`; a member without an entry shows "not probed" (the answer to a
/// membership change prints the status it carries, without asking every member again).
pub fn print(s: &pb::ClusterStatusResponse, health: Vec<String>) {
    let mut health = health.into_iter();
    let members: Vec<MemberView> = s
        .members
        .iter()
        .map(|m| MemberView {
            node_id: m.node_id,
            voter: m.voter,
            leader: m.node_id == s.leader_id,
            health: health.next().unwrap_or_else(|| "not probed".into()),
            client_address: m.client_address.clone(),
            peer_address: m.peer_address.clone(),
            matched_index: m.matched_index,
            lag_entries: m.lag_entries,
        })
        .collect();
    if show::output() == Output::Json {
        show::json(&StatusView {
            answered_by: s.node_id,
            role: s.role.clone(),
            leader_id: s.leader_id,
            term: s.term,
            commit_index: s.commit_index,
            applied_index: s.applied_index,
            last_log_index: s.last_log_index,
            snapshot_index: s.snapshot_index,
            // Bytes go out as protobuf JSON has them (base64); show::json prints them in hex.
            cluster_admin_key: base64::engine::general_purpose::STANDARD
                .encode(&s.cluster_admin_key),
            members,
        });
        return;
    }
    if show::output() == Output::Table {
        let seen_by = if s.node_id == s.leader_id {
            "the leader".to_string()
        } else {
            let role = if s.role.is_empty() { "member" } else { &s.role };
            format!(
                "node {} ({role}; no leader answered: replication unknown)",
                s.node_id
            )
        };
        println!(
            "leader {} in term {}, commit index {}, as seen by {seen_by}; cluster admin key {}",
            s.leader_id,
            s.term,
            s.commit_index,
            hex::encode(&s.cluster_admin_key)
        );
        if !s.detail {
            println!(
                "(the public view: addresses, health and lag are shown to the regulator, --as, \
                 or with the cluster admin key, --key)"
            );
        }
    }
    let rows = members
        .iter()
        .map(|m| {
            let role = if m.voter { "voter" } else { "learner" };
            vec![
                m.node_id.to_string(),
                if m.leader {
                    format!("{role}, leader")
                } else {
                    role.to_string()
                },
                m.health.clone(),
                m.client_address.clone(),
                m.peer_address.clone(),
                m.matched_index.to_string(),
                m.lag_entries.to_string(),
            ]
        })
        .collect();
    println!(
        "{}",
        show::table(
            &[
                "node",
                "role",
                "health",
                "client",
                "peer",
                "matched index",
                "lag entries"
            ],
            rows
        )
    );
}
