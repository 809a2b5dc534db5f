//! Handlers for open checks: thin wrappers over the agent's check
//! operations.

use axum::extract::State;
use axum::http::StatusCode;
use shared::basket::Line;
use shared::ids::SaleId;
use shared::wire::till::{
    AddCoupon, AttachCustomer, CheckView, CommitRequest, Committed, Redeem, SaleOutcome, SetCoupons,
};
use uuid::Uuid;

use super::{ApiState, Json, OptionalJson, Path};
use crate::checks::Commit;
use crate::error::ApiError;

type ApiResult<T> = Result<T, ApiError>;

/// `POST /v1/checks`: opens an empty check.
pub async fn open(State(s): State<ApiState>) -> ApiResult<(StatusCode, Json<CheckView>)> {
    Ok((StatusCode::CREATED, Json(s.agent.open_check()?)))
}

/// `GET /v1/checks/{id}`.
pub async fn get(State(s): State<ApiState>, Path(id): Path<Uuid>) -> ApiResult<Json<CheckView>> {
    Ok(Json(s.agent.check(id)?))
}

/// `POST /v1/checks/{id}/lines`: adds a line.
pub async fn add_line(
    State(s): State<ApiState>,
    Path(id): Path<Uuid>,
    Json(line): Json<Line>,
) -> ApiResult<(StatusCode, Json<CheckView>)> {
    Ok((StatusCode::CREATED, Json(s.agent.add_line(id, line)?)))
}

/// `DELETE /v1/checks/{id}/lines/{line_id}`.
pub async fn remove_line(
    State(s): State<ApiState>,
    Path((id, line_id)): Path<(Uuid, u32)>,
) -> ApiResult<Json<CheckView>> {
    Ok(Json(s.agent.remove_line(id, line_id)?))
}

/// `PUT /v1/checks/{id}/customer`: identifies and attaches the customer.
pub async fn attach_customer(
    State(s): State<ApiState>,
    Path(id): Path<Uuid>,
    Json(attach): Json<AttachCustomer>,
) -> ApiResult<Json<CheckView>> {
    Ok(Json(s.agent.attach_customer(id, &attach).await?))
}

/// `DELETE /v1/checks/{id}/customer`.
pub async fn detach_customer(
    State(s): State<ApiState>,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<CheckView>> {
    Ok(Json(s.agent.detach_customer(id)?))
}

/// `PUT /v1/checks/{id}/coupons`: the coupon codes entered, replacing any
/// before.
pub async fn set_coupons(
    State(s): State<ApiState>,
    Path(id): Path<Uuid>,
    Json(body): Json<SetCoupons>,
) -> ApiResult<Json<CheckView>> {
    Ok(Json(s.agent.set_coupons(id, body.codes)?))
}

/// `POST /v1/checks/{id}/coupons`: one more coupon code.
pub async fn add_coupon(
    State(s): State<ApiState>,
    Path(id): Path<Uuid>,
    Json(body): Json<AddCoupon>,
) -> ApiResult<Json<CheckView>> {
    Ok(Json(s.agent.add_coupon(id, body.code)?))
}

/// `POST /v1/checks/{id}/redeem`: pay with up to `points` points.
pub async fn redeem(
    State(s): State<ApiState>,
    Path(id): Path<Uuid>,
    Json(body): Json<Redeem>,
) -> ApiResult<Json<CheckView>> {
    Ok(Json(s.agent.redeem(id, body.points).await?))
}

/// `POST /v1/checks/{id}/price`: prices with the ruleset in use now.
pub async fn price(State(s): State<ApiState>, Path(id): Path<Uuid>) -> ApiResult<Json<CheckView>> {
    Ok(Json(s.agent.check(id)?))
}

/// `POST /v1/checks/{id}/commit`, optionally `{"sale_id": …}`: answers 201
/// once the record is durable, or 200 with the first reply when the sale id
/// was committed before.
pub async fn commit(
    State(s): State<ApiState>,
    Path(id): Path<Uuid>,
    OptionalJson(body): OptionalJson<CommitRequest>,
) -> ApiResult<(StatusCode, Json<Committed>)> {
    let started = std::time::Instant::now();
    let commit = s.agent.commit(id, body.sale_id).await?;
    s.metrics.committed(started.elapsed());
    Ok(match commit {
        Commit::New(committed) => (StatusCode::CREATED, Json(committed)),
        Commit::Replayed(committed) => (StatusCode::OK, Json(committed)),
    })
}

/// `GET /v1/sales/{sale_id}`: whether the sale was committed, with the
/// commit's reply.
pub async fn sale(
    State(s): State<ApiState>,
    Path(sale): Path<SaleId>,
) -> ApiResult<Json<SaleOutcome>> {
    Ok(Json(s.agent.sale(sale).await?))
}

/// `POST /v1/checks/{id}/cancel`.
pub async fn cancel(State(s): State<ApiState>, Path(id): Path<Uuid>) -> ApiResult<StatusCode> {
    s.agent.cancel(id)?;
    Ok(StatusCode::NO_CONTENT)
}
