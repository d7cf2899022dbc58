//! An instance announcing itself to gateways: `POST /admin/instances` at
//! start and every `interval` (the heartbeat), `DELETE` on shutdown.

use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, header};
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio_util::sync::CancellationToken;

pub struct Registration {
    /// Gateway base URLs.
    pub gateways: Vec<String>,
    pub service: String,
    /// The base URL gateways should use for this instance.
    pub advertise: String,
    pub admin_token: Option<String>,
    pub interval: Duration,
}

impl Registration {
    /// Heartbeats until `shutdown`, then deregisters from every gateway.
    pub async fn run(self, shutdown: CancellationToken) {
        let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
        loop {
            for gateway in &self.gateways {
                if let Err(e) = self.call(&client, gateway, Method::POST).await {
                    tracing::warn!(gateway, error = %e, "registration heartbeat failed");
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(self.interval) => {}
            }
        }
        for gateway in &self.gateways {
            if let Err(e) = self.call(&client, gateway, Method::DELETE).await {
                tracing::warn!(gateway, error = %e, "deregistration failed");
            }
        }
    }

    async fn call(
        &self,
        client: &Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
        gateway: &str,
        method: Method,
    ) -> anyhow::Result<()> {
        let body = serde_json::json!({"service": self.service, "url": self.advertise});
        let mut req = Request::builder()
            .method(method)
            .uri(format!("{}/admin/instances", gateway.trim_end_matches('/')))
            .header(header::CONTENT_TYPE, "application/json");
        if let Some(token) = &self.admin_token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let req = req.body(Full::new(Bytes::from(body.to_string())))?;
        let response = tokio::time::timeout(Duration::from_secs(2), client.request(req)).await??;
        anyhow::ensure!(
            response.status().is_success(),
            "gateway answered {}",
            response.status()
        );
        Ok(())
    }
}

/// A service instance's peers (the users instances a messages instance
/// asks, ...) taken from the gateways' registry rather than from static URL
/// lists: every `interval` it reads `GET /admin/instances` from every
/// gateway and gives each pool what they list for its service together
/// ([`crate::HttpPool::adopt`]), so instances added or removed while the
/// formation runs are followed. Instances a round does not list leave a
/// pool only after the heartbeat TTL, so a gateway that restarted (and
/// lists nothing until the next heartbeats) or does not answer empties
/// nothing.
pub struct RegistryFollower {
    pub gateways: Vec<String>,
    pub admin_token: Option<String>,
    pub pools: Vec<std::sync::Arc<crate::HttpPool>>,
    pub interval: Duration,
}

#[derive(serde::Deserialize)]
struct Listing {
    items: Vec<Listed>,
}

/// One instance as a gateway's `GET /admin/instances` lists it.
#[derive(serde::Deserialize)]
pub struct Listed {
    pub service: String,
    pub url: String,
    pub healthy: bool,
}

pub type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

/// What the gateway at `gateway` lists in its registry (2 s for the answer
/// and 2 s for its body).
pub async fn list_instances(
    client: &HttpClient,
    gateway: &str,
    admin_token: Option<&str>,
) -> anyhow::Result<Vec<Listed>> {
    use http_body_util::BodyExt;
    let mut req = Request::get(format!("{}/admin/instances", gateway.trim_end_matches('/')));
    if let Some(token) = admin_token {
        req = req.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let response = tokio::time::timeout(
        Duration::from_secs(2),
        client.request(req.body(Full::default())?),
    )
    .await??;
    anyhow::ensure!(
        response.status().is_success(),
        "gateway answered {} (is ROOKERY_ADMIN_TOKEN the gateway's?)",
        response.status()
    );
    let body = tokio::time::timeout(Duration::from_secs(2), response.into_body().collect())
        .await??
        .to_bytes();
    Ok(serde_json::from_slice::<Listing>(&body)?.items)
}

impl RegistryFollower {
    /// Follows until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = self.follow_once(&client) => {}
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(self.interval) => {}
            }
        }
    }

    /// One round; how many gateways answered.
    pub async fn follow_once(&self, client: &HttpClient) -> usize {
        let token = self.admin_token.as_deref();
        let answers = futures::future::join_all(
            self.gateways
                .iter()
                .map(|g| list_instances(client, g, token)),
        )
        .await;
        let mut listed = Vec::new();
        let mut answered = 0;
        for (gateway, answer) in self.gateways.iter().zip(answers) {
            match answer {
                Ok(items) => {
                    answered += 1;
                    listed.extend(items);
                }
                Err(e) => {
                    tracing::warn!(gateway, error = %e, "reading the gateway's registry failed")
                }
            }
        }
        for pool in &self.pools {
            let urls: Vec<(String, bool)> = listed
                .iter()
                .filter(|i| i.service == pool.service)
                .map(|i| (i.url.clone(), i.healthy))
                .collect();
            pool.adopt(&urls);
        }
        answered
    }
}
