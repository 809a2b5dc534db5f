//! Handlers for open checks: thin wrappers over the agent's check
//! operations.

use shared::wire::ErrorBody;

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
#[utoipa::path(
    post,
    path = "/v1/checks",
    operation_id = "open_check",
    tag = "checks",
    summary = "Opens an empty check.",
    responses(
        (status = 201, description = "The new check.", body = CheckView),
        (status = 429, description = "Too many checks are open.", body = ErrorBody),
        (status = 503, description = "The register's disk fails: finish the sale without loyalty.", body = ErrorBody),
        (status = 507, description = "The register's disk is full: finish the sale without loyalty.", body = ErrorBody),
        (status = 401, description = "The till's token is required and was missing or wrong.", body = ErrorBody),
        (status = 403, description = "The `Host` or `Origin` is not allowed.", body = ErrorBody),
    ),
)]
pub async fn open(State(s): State<ApiState>) -> ApiResult<(StatusCode, Json<CheckView>)> {
    Ok((StatusCode::CREATED, Json(s.agent.open_check()?)))
}

/// `GET /v1/checks/{id}`.
#[utoipa::path(
    get,
    path = "/v1/checks/{id}",
    operation_id = "get_check",
    tag = "checks",
    summary = "An open check with its current pricing.",
    params(("id" = Uuid, Path, description = "The check.")),
    responses(
        (status = 200, description = "The check.", body = CheckView),
        (status = 404, description = "No such open check.", body = ErrorBody),
        (status = 400, description = "The path does not parse.", body = ErrorBody),
        (status = 401, description = "The till's token is required and was missing or wrong.", body = ErrorBody),
        (status = 403, description = "The `Host` or `Origin` is not allowed.", body = ErrorBody),
    ),
)]
pub async fn get(State(s): State<ApiState>, Path(id): Path<Uuid>) -> ApiResult<Json<CheckView>> {
    Ok(Json(s.agent.check(id)?))
}

/// `POST /v1/checks/{id}/lines`: adds a line.
#[utoipa::path(
    post,
    path = "/v1/checks/{id}/lines",
    operation_id = "add_line",
    tag = "checks",
    summary = "Adds a line.",
    params(("id" = Uuid, Path, description = "The check.")),
    request_body = Line,
    responses(
        (status = 201, description = "The check with the line.", body = CheckView),
        (status = 404, description = "No such open check.", body = ErrorBody),
        (status = 400, description = "The path does not parse. Malformed JSON.", body = ErrorBody),
        (status = 415, description = "The body is not `application/json`.", body = ErrorBody),
        (status = 422, description = "The body does not fit the schema or is refused.", body = ErrorBody),
        (status = 401, description = "The till's token is required and was missing or wrong.", body = ErrorBody),
        (status = 403, description = "The `Host` or `Origin` is not allowed.", body = ErrorBody),
    ),
)]
pub async fn add_line(
    State(s): State<ApiState>,
    Path(id): Path<Uuid>,
    Json(line): Json<Line>,
) -> ApiResult<(StatusCode, Json<CheckView>)> {
    Ok((StatusCode::CREATED, Json(s.agent.add_line(id, line)?)))
}

/// `DELETE /v1/checks/{id}/lines/{line_id}`.
#[utoipa::path(
    delete,
    path = "/v1/checks/{id}/lines/{line_id}",
    operation_id = "remove_line",
    tag = "checks",
    summary = "Removes a line.",
    params(("id" = Uuid, Path, description = "The check."), ("line_id" = u32, Path, description = "The line.")),
    responses(
        (status = 200, description = "The check without the line.", body = CheckView),
        (status = 404, description = "No such open check or line.", body = ErrorBody),
        (status = 400, description = "The path does not parse.", body = ErrorBody),
        (status = 401, description = "The till's token is required and was missing or wrong.", body = ErrorBody),
        (status = 403, description = "The `Host` or `Origin` is not allowed.", body = ErrorBody),
    ),
)]
pub async fn remove_line(
    State(s): State<ApiState>,
    Path((id, line_id)): Path<(Uuid, u32)>,
) -> ApiResult<Json<CheckView>> {
    Ok(Json(s.agent.remove_line(id, line_id)?))
}

/// `PUT /v1/checks/{id}/customer`: identifies and attaches the customer.
#[utoipa::path(
    put,
    path = "/v1/checks/{id}/customer",
    tag = "checks",
    summary = "Identifies the customer (token, card or phone) and attaches them.",
    params(("id" = Uuid, Path, description = "The check.")),
    request_body = AttachCustomer,
    responses(
        (status = 200, description = "The check with the customer.", body = CheckView),
        (status = 404, description = "No such open check or customer.", body = ErrorBody),
        (status = 400, description = "The path does not parse. Malformed JSON.", body = ErrorBody),
        (status = 415, description = "The body is not `application/json`.", body = ErrorBody),
        (status = 422, description = "The body does not fit the schema or is refused.", body = ErrorBody),
        (status = 401, description = "The till's token is required and was missing or wrong.", body = ErrorBody),
        (status = 403, description = "The `Host` or `Origin` is not allowed.", body = ErrorBody),
    ),
)]
pub async fn attach_customer(
    State(s): State<ApiState>,
    Path(id): Path<Uuid>,
    Json(attach): Json<AttachCustomer>,
) -> ApiResult<Json<CheckView>> {
    Ok(Json(s.agent.attach_customer(id, &attach).await?))
}

/// `DELETE /v1/checks/{id}/customer`.
#[utoipa::path(
    delete,
    path = "/v1/checks/{id}/customer",
    tag = "checks",
    summary = "Detaches the customer.",
    params(("id" = Uuid, Path, description = "The check.")),
    responses(
        (status = 200, description = "The check without a customer.", body = CheckView),
        (status = 404, description = "No such open check.", body = ErrorBody),
        (status = 400, description = "The path does not parse.", body = ErrorBody),
        (status = 401, description = "The till's token is required and was missing or wrong.", body = ErrorBody),
        (status = 403, description = "The `Host` or `Origin` is not allowed.", body = ErrorBody),
    ),
)]
pub async fn detach_customer(
    State(s): State<ApiState>,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<CheckView>> {
    Ok(Json(s.agent.detach_customer(id)?))
}

/// `PUT /v1/checks/{id}/coupons`: the coupon codes entered, replacing any
/// before.
#[utoipa::path(
    put,
    path = "/v1/checks/{id}/coupons",
    tag = "checks",
    summary = "The coupon codes entered, replacing any before.",
    params(("id" = Uuid, Path, description = "The check.")),
    request_body = SetCoupons,
    responses(
        (status = 200, description = "The check.", body = CheckView),
        (status = 404, description = "No such open check.", body = ErrorBody),
        (status = 400, description = "The path does not parse. Malformed JSON.", body = ErrorBody),
        (status = 415, description = "The body is not `application/json`.", body = ErrorBody),
        (status = 422, description = "The body does not fit the schema or is refused.", body = ErrorBody),
        (status = 401, description = "The till's token is required and was missing or wrong.", body = ErrorBody),
        (status = 403, description = "The `Host` or `Origin` is not allowed.", body = ErrorBody),
    ),
)]
pub async fn set_coupons(
    State(s): State<ApiState>,
    Path(id): Path<Uuid>,
    Json(body): Json<SetCoupons>,
) -> ApiResult<Json<CheckView>> {
    Ok(Json(s.agent.set_coupons(id, body.codes)?))
}

/// `POST /v1/checks/{id}/coupons`: one more coupon code.
#[utoipa::path(
    post,
    path = "/v1/checks/{id}/coupons",
    tag = "checks",
    summary = "One more coupon code.",
    params(("id" = Uuid, Path, description = "The check.")),
    request_body = AddCoupon,
    responses(
        (status = 200, description = "The check.", body = CheckView),
        (status = 404, description = "No such open check.", body = ErrorBody),
        (status = 400, description = "The path does not parse. Malformed JSON.", body = ErrorBody),
        (status = 415, description = "The body is not `application/json`.", body = ErrorBody),
        (status = 422, description = "The body does not fit the schema or is refused.", body = ErrorBody),
        (status = 401, description = "The till's token is required and was missing or wrong.", body = ErrorBody),
        (status = 403, description = "The `Host` or `Origin` is not allowed.", body = ErrorBody),
    ),
)]
pub async fn add_coupon(
    State(s): State<ApiState>,
    Path(id): Path<Uuid>,
    Json(body): Json<AddCoupon>,
) -> ApiResult<Json<CheckView>> {
    Ok(Json(s.agent.add_coupon(id, body.code)?))
}

/// `POST /v1/checks/{id}/redeem`: pay with up to `points` points.
#[utoipa::path(
    post,
    path = "/v1/checks/{id}/redeem",
    tag = "checks",
    summary = "Pays with up to `points` points (0 to stop).",
    params(("id" = Uuid, Path, description = "The check.")),
    request_body = Redeem,
    responses(
        (status = 200, description = "The check.", body = CheckView),
        (status = 404, description = "No such open check.", body = ErrorBody),
        (status = 400, description = "The path does not parse. Malformed JSON.", body = ErrorBody),
        (status = 415, description = "The body is not `application/json`.", body = ErrorBody),
        (status = 422, description = "The body does not fit the schema or is refused.", body = ErrorBody),
        (status = 401, description = "The till's token is required and was missing or wrong.", body = ErrorBody),
        (status = 403, description = "The `Host` or `Origin` is not allowed.", body = ErrorBody),
    ),
)]
pub async fn redeem(
    State(s): State<ApiState>,
    Path(id): Path<Uuid>,
    Json(body): Json<Redeem>,
) -> ApiResult<Json<CheckView>> {
    Ok(Json(s.agent.redeem(id, body.points).await?))
}

/// `POST /v1/checks/{id}/price`: prices with the ruleset in use now.
#[utoipa::path(
    post,
    path = "/v1/checks/{id}/price",
    operation_id = "price_check",
    tag = "checks",
    summary = "Prices the check with the ruleset in use now.",
    params(("id" = Uuid, Path, description = "The check.")),
    responses(
        (status = 200, description = "The check.", body = CheckView),
        (status = 404, description = "No such open check.", body = ErrorBody),
        (status = 400, description = "The path does not parse.", body = ErrorBody),
        (status = 401, description = "The till's token is required and was missing or wrong.", body = ErrorBody),
        (status = 403, description = "The `Host` or `Origin` is not allowed.", body = ErrorBody),
    ),
)]
pub async fn price(State(s): State<ApiState>, Path(id): Path<Uuid>) -> ApiResult<Json<CheckView>> {
    Ok(Json(s.agent.check(id)?))
}

/// `POST /v1/checks/{id}/commit`, optionally `{"sale_id": …}`: answers 201
/// once the record is durable, or 200 with the first reply when the sale id
/// was committed before.
#[utoipa::path(
    post,
    path = "/v1/checks/{id}/commit",
    operation_id = "commit_check",
    tag = "checks",
    summary = "Commits the sale as a signed record, durable in the outbox; idempotent by `sale_id`.",
    params(("id" = Uuid, Path, description = "The check.")),
    request_body = Option<CommitRequest>,
    responses(
        (status = 201, description = "Committed.", body = Committed),
        (status = 200, description = "This `sale_id` was committed before: the first reply.", body = Committed),
        (status = 409, description = "The `sale_id` names another check, or a commit is in progress.", body = ErrorBody),
        (status = 422, description = "The check is empty or its loyalty is refused.", body = ErrorBody),
        (status = 404, description = "No such open check.", body = ErrorBody),
        (status = 400, description = "The path does not parse. Malformed JSON.", body = ErrorBody),
        (status = 415, description = "The body is not `application/json`.", body = ErrorBody),
        (status = 503, description = "The register's disk fails: finish the sale without loyalty.", body = ErrorBody),
        (status = 507, description = "The register's disk is full: finish the sale without loyalty.", body = ErrorBody),
        (status = 401, description = "The till's token is required and was missing or wrong.", body = ErrorBody),
        (status = 403, description = "The `Host` or `Origin` is not allowed.", body = ErrorBody),
    ),
)]
pub async fn commit(
    State(s): State<ApiState>,
    Path(id): Path<Uuid>,
    OptionalJson(body): OptionalJson<CommitRequest>,
) -> ApiResult<(StatusCode, Json<Committed>)> {
    let started = std::time::Instant::now();
    let commit = s.agent.commit(id, body.sale_id).await?;
    Ok(match commit {
        Commit::New(committed, stages) => {
            s.metrics.committed(started.elapsed(), Some(&stages));
            (StatusCode::CREATED, Json(committed))
        }
        Commit::Replayed(committed) => {
            s.metrics.committed(started.elapsed(), None);
            (StatusCode::OK, Json(committed))
        }
    })
}

/// `GET /v1/sales/{sale_id}`: whether the sale was committed, with the
/// commit's reply.
#[utoipa::path(
    get,
    path = "/v1/sales/{sale_id}",
    operation_id = "get_sale",
    tag = "checks",
    summary = "Whether a sale was committed with this id, with the commit's reply.",
    params(("sale_id" = SaleId, Path, description = "The till's id of the sale.")),
    responses(
        (status = 200, description = "The sale.", body = SaleOutcome),
        (status = 404, description = "No sale was committed with this id.", body = ErrorBody),
        (status = 400, description = "The path does not parse.", body = ErrorBody),
        (status = 503, description = "The register's disk fails: finish the sale without loyalty.", body = ErrorBody),
        (status = 507, description = "The register's disk is full: finish the sale without loyalty.", body = ErrorBody),
        (status = 401, description = "The till's token is required and was missing or wrong.", body = ErrorBody),
        (status = 403, description = "The `Host` or `Origin` is not allowed.", body = ErrorBody),
    ),
)]
pub async fn sale(
    State(s): State<ApiState>,
    Path(sale): Path<SaleId>,
) -> ApiResult<Json<SaleOutcome>> {
    Ok(Json(s.agent.sale(sale).await?))
}

/// `POST /v1/checks/{id}/cancel`.
#[utoipa::path(
    post,
    path = "/v1/checks/{id}/cancel",
    operation_id = "cancel_check",
    tag = "checks",
    summary = "Cancels an open check.",
    params(("id" = Uuid, Path, description = "The check.")),
    responses(
        (status = 204, description = "Cancelled."),
        (status = 404, description = "No such open check.", body = ErrorBody),
        (status = 400, description = "The path does not parse.", body = ErrorBody),
        (status = 401, description = "The till's token is required and was missing or wrong.", body = ErrorBody),
        (status = 403, description = "The `Host` or `Origin` is not allowed.", body = ErrorBody),
    ),
)]
pub async fn cancel(State(s): State<ApiState>, Path(id): Path<Uuid>) -> ApiResult<StatusCode> {
    s.agent.cancel(id)?;
    Ok(StatusCode::NO_CONTENT)
}
