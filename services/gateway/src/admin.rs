//! `/admin/instances`: instances register, heartbeat and deregister here, and
//! operators list them. Needs `Authorization: Bearer <ROOKERY_ADMIN_TOKEN>`;
//! without a configured token the routes answer 404 as if absent.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rookery_kernel::extract::JsonBody;
use rookery_kernel::{ApiError, ApiResult};
use serde::Deserialize;
use subtle::ConstantTimeEq;

use crate::{Gateway, HttpPool, Upstream};

pub fn routes() -> Router<Arc<Gateway>> {
    Router::new().route(
        "/admin/instances",
        get(list).post(register).delete(deregister),
    )
}

#[derive(Deserialize)]
pub struct InstanceRef {
    pub service: String,
    pub url: String,
}

fn authorize(gateway: &Gateway, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(expected) = &gateway.admin_token else {
        return Err(ApiError::not_found("no such route"));
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| ApiError::unauthorized("the admin token is required"))?;
    if bool::from(given.trim().as_bytes().ct_eq(expected.as_bytes())) {
        Ok(())
    } else {
        Err(ApiError::forbidden("wrong admin token"))
    }
}

fn pool<'a>(gateway: &'a Gateway, service: &str) -> Result<&'a Arc<HttpPool>, ApiError> {
    match gateway.upstreams.get(service.trim()) {
        Some(Upstream::Http(pool)) => Ok(pool),
        Some(Upstream::InProcess(_)) => Err(ApiError::invalid(
            "service",
            format!("{service} runs inside this gateway's process"),
        )),
        None => Err(ApiError::invalid(
            "service",
            format!("no service {service:?}"),
        )),
    }
}

async fn list(State(gateway): State<Arc<Gateway>>, headers: HeaderMap) -> ApiResult<Response> {
    authorize(&gateway, &headers)?;
    let mut items: Vec<_> = gateway
        .upstreams
        .values()
        .filter_map(|u| match u {
            Upstream::Http(pool) => Some(pool.views()),
            Upstream::InProcess(_) => None,
        })
        .flatten()
        .collect();
    items.sort_by(|a, b| (&a.service, &a.url).cmp(&(&b.service, &b.url)));
    Ok(axum::Json(serde_json::json!({ "items": items })).into_response())
}

/// Registers an instance (201) or renews its heartbeat (200).
async fn register(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
    JsonBody(instance): JsonBody<InstanceRef>,
) -> ApiResult<Response> {
    authorize(&gateway, &headers)?;
    let added = pool(&gateway, &instance.service)?
        .register(&instance.url)
        .map_err(|e| ApiError::invalid("url", e.to_string()))?;
    let status = if added {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        axum::Json(
            serde_json::json!({"service": instance.service.trim(), "url": instance.url.trim()}),
        ),
    )
        .into_response())
}

async fn deregister(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
    JsonBody(instance): JsonBody<InstanceRef>,
) -> ApiResult<StatusCode> {
    authorize(&gateway, &headers)?;
    let removed = pool(&gateway, &instance.service)?
        .deregister(&instance.url)
        .map_err(|e| ApiError::invalid("url", e.to_string()))?;
    if removed {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("no such registered instance"))
    }
}
