//! `GET /api/v1/sales`: a sale of the register's merchant with the returns
//! stored of it, so a till can take a return of a sale made at another
//! till, or one pruned from its own outbox, and never give back more than
//! was sold across all of them.

use shared::wire::ErrorBody;

use axum::extract::State;
use serde::Deserialize;
use shared::ids::{RegisterId, Seq};
use shared::wire::sync::SaleWithReturns;
use uuid::Uuid;

use super::extract::{Json, Query};
use crate::auth::AuthenticatedRegister;
use crate::db::SaleKey;
use crate::error::ApiError;
use crate::services::sales::SalesError;
use crate::state::AppState;

/// Names the sale: `register_id` and `seq`, or `record_id`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct SaleQuery {
    register_id: Option<RegisterId>,
    seq: Option<Seq>,
    record_id: Option<Uuid>,
}

impl SaleQuery {
    fn key(&self) -> Result<SaleKey, ApiError> {
        match (self.register_id, self.seq, self.record_id) {
            (Some(register), Some(seq), None) => Ok(SaleKey::Seq(register, seq)),
            (None, None, Some(id)) => Ok(SaleKey::Record(id)),
            _ => Err(ApiError::bad_request(
                "bad_query",
                "name the sale by register_id and seq, or by record_id",
            )),
        }
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/sales",
    tag = "sync",
    summary = "A sale of the register's merchant with its stored returns, by register and seq or by record id.",
    params(SaleQuery),
    responses(
        (status = 200, description = "The sale and its returns.", body = SaleWithReturns),
        (status = 400, description = "Name the sale by `register_id` and `seq`, or by `record_id`.", body = ErrorBody),
        (status = 404, description = "No such sale of this merchant.", body = ErrorBody),
        (status = 409, description = "A stored record of the sale does not verify with its register's key (`record_unverified`); it is never sent as evidence.", body = ErrorBody),
        (status = 401, description = "Missing or wrong register credentials, or a revoked register.", body = ErrorBody),
        (status = 426, description = "A sync protocol version this server does not speak.", body = ErrorBody),
    ),
    security(("register" = [])),
)]
#[tracing::instrument(skip_all, fields(register_id = %register.0.register_id))]
pub(crate) async fn sale_with_returns(
    State(state): State<AppState>,
    register: AuthenticatedRegister,
    Query(query): Query<SaleQuery>,
) -> Result<Json<SaleWithReturns>, ApiError> {
    let key = query.key()?;
    state
        .services
        .sales
        .with_returns(register.0.merchant_id, key)
        .await
        .map_err(|e| match e {
            SalesError::Unverified { .. } => ApiError::conflict("record_unverified", e.to_string()),
            SalesError::Db(e) => e.into(),
        })?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("no such sale of this merchant is stored"))
}
