//! Customers: creation, the view with standing and history, phone tokens
//! and their revocation (admin token); and the change feed registers use
//! to keep their customer caches fresh (long-poll).

use shared::wire::ErrorBody;

use crate::wire::admin::{CustomerFeedMetrics, CustomerView, IssuedToken, NewCustomer};
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use shared::identity::Ean13;
use shared::ids::{CustomerId, MerchantId};
use shared::wire::sync::CustomerDeltaPage;

use super::extract::{Json, Path, Query};
use super::long_poll_deadline;
use crate::auth::AuthenticatedRegister;
use crate::db::DbError;
use crate::error::ApiError;
use crate::notify::Topic;
use crate::state::AppState;

/// Customers per change page when the register does not say.
const DEFAULT_PAGE: usize = 500;
/// The most customers per change page.
const MAX_PAGE: usize = 1000;

#[utoipa::path(
    post,
    path = "/api/v1/admin/merchants/{id}/customers",
    tag = "customers",
    summary = "Creates a customer of the merchant.",
    params(("id" = MerchantId, Path, description = "The merchant.", example = 1)),
    request_body = NewCustomer,
    responses(
        (status = 201, description = "The customer.", body = CustomerView),
        (status = 401, description = "No admin token or API key, or a wrong or revoked one.", body = ErrorBody),
        (status = 403, description = "The key's role does not permit this, or it is another merchant's.", body = ErrorBody),
        (status = 404, description = "No such merchant.", body = ErrorBody),
        (status = 409, description = "The phone belongs to another customer.", body = ErrorBody),
        (status = 400, description = "A path parameter does not parse. Malformed JSON.", body = ErrorBody),
        (status = 415, description = "The body is not `application/json`.", body = ErrorBody),
        (status = 422, description = "The body does not fit the schema or its content is invalid.", body = ErrorBody),
    ),
    security(("admin_token" = []), ("api_key" = [])),
)]
#[tracing::instrument(skip_all, fields(merchant_id = %merchant))]
pub(crate) async fn create_customer(
    State(state): State<AppState>,
    Path(merchant): Path<MerchantId>,
    Json(new): Json<NewCustomer>,
) -> Result<(StatusCode, Json<CustomerView>), ApiError> {
    if new.name.trim().is_empty() {
        return Err(ApiError::validation("customer name must not be empty"));
    }
    if new.phone.is_none() && new.email.is_none() {
        return Err(ApiError::validation(
            "a customer needs a phone or an e-mail to be reached",
        ));
    }
    let id = state
        .services
        .customers
        .create(merchant, new)
        .await
        .map_err(|e| match e {
            DbError::Conflict(message) => ApiError::conflict("phone_taken", message),
            other => other.into(),
        })?;
    state.notifier.notify(Topic::Customers, merchant);
    tracing::info!(customer_id = %id, "created a customer");
    Ok((StatusCode::CREATED, Json(view(&state, id).await?)))
}

#[utoipa::path(
    get,
    path = "/api/v1/admin/customers/{id}",
    tag = "customers",
    summary = "A customer with standing, points and purchases.",
    params(("id" = CustomerId, Path, description = "The customer.", example = 1)),
    responses(
        (status = 200, description = "The customer.", body = CustomerView),
        (status = 401, description = "No admin token or API key, or a wrong or revoked one.", body = ErrorBody),
        (status = 403, description = "The key's role does not permit this, or it is another merchant's.", body = ErrorBody),
        (status = 404, description = "No such customer.", body = ErrorBody),
        (status = 400, description = "A path parameter does not parse.", body = ErrorBody),
    ),
    security(("admin_token" = []), ("api_key" = [])),
)]
pub(crate) async fn get_customer(
    State(state): State<AppState>,
    Path(id): Path<CustomerId>,
) -> Result<Json<CustomerView>, ApiError> {
    Ok(Json(view(&state, id).await?))
}

/// The customer with the tier the merchant's current ruleset gives.
async fn view(state: &AppState, id: CustomerId) -> Result<CustomerView, ApiError> {
    let profile = state
        .services
        .customers
        .profile(id, state.clock.now())
        .await?;
    let ruleset = state
        .services
        .publisher
        .current(profile.merchant_id)
        .await?;
    let tier = ruleset.and_then(|current| {
        current
            .ruleset
            .tier_for(profile.lifetime_spend)
            .map(|tier| tier.name.clone())
    });
    Ok(CustomerView {
        id: profile.id,
        merchant_id: profile.merchant_id,
        name: profile.name,
        phone: profile.phone,
        email: profile.email,
        gender: profile.gender,
        birth_date: profile.birth_date,
        card_number: Ean13::card_for(profile.id),
        lifetime_spend: profile.lifetime_spend,
        points_balance: profile.points.available,
        points_pending: profile.points.pending,
        points_expiring: profile.points.expiring,
        points_expired: profile.points.expired,
        tier,
        purchases: profile.purchases,
        adjustments: profile.adjustments,
    })
}

#[utoipa::path(
    post,
    path = "/api/v1/admin/customers/{id}/token",
    tag = "customers",
    summary = "Issues a signed rotating token for the customer's phone.",
    params(("id" = CustomerId, Path, description = "The customer.", example = 1)),
    responses(
        (status = 200, description = "The token.", body = IssuedToken),
        (status = 401, description = "No admin token or API key, or a wrong or revoked one.", body = ErrorBody),
        (status = 403, description = "The key's role does not permit this, or it is another merchant's.", body = ErrorBody),
        (status = 404, description = "No such customer.", body = ErrorBody),
        (status = 400, description = "A path parameter does not parse.", body = ErrorBody),
    ),
    security(("admin_token" = []), ("api_key" = [])),
)]
#[tracing::instrument(skip_all, fields(customer_id = %id))]
pub(crate) async fn issue_token(
    State(state): State<AppState>,
    Path(id): Path<CustomerId>,
) -> Result<Json<IssuedToken>, ApiError> {
    let profile = state
        .services
        .customers
        .profile(id, state.clock.now())
        .await?;
    let issued = crate::customer_token::issue(&state, profile.merchant_id, id)
        .map_err(|e| ApiError::internal(&e))?;
    Ok(Json(issued))
}

#[utoipa::path(
    post,
    path = "/api/v1/admin/customers/{id}/revoke-tokens",
    tag = "customers",
    summary = "Revokes every token issued to the customer so far.",
    params(("id" = CustomerId, Path, description = "The customer.", example = 1)),
    responses(
        (status = 204, description = "Revoked."),
        (status = 401, description = "No admin token or API key, or a wrong or revoked one.", body = ErrorBody),
        (status = 403, description = "The key's role does not permit this, or it is another merchant's.", body = ErrorBody),
        (status = 404, description = "No such customer.", body = ErrorBody),
        (status = 400, description = "A path parameter does not parse.", body = ErrorBody),
    ),
    security(("admin_token" = []), ("api_key" = [])),
)]
#[tracing::instrument(skip_all, fields(customer_id = %id))]
pub(crate) async fn revoke_tokens(
    State(state): State<AppState>,
    Path(id): Path<CustomerId>,
) -> Result<StatusCode, ApiError> {
    let merchant = state
        .services
        .customers
        .revoke_tokens(id, state.clock.now())
        .await?;
    state.notifier.notify(Topic::Customers, merchant);
    tracing::info!("revoked the customer's tokens");
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/admin/customer-feed`: the change feed's work so far and
/// the long-polls waiting now (for tests and the perf harness).
#[utoipa::path(
    get,
    path = "/api/v1/admin/customer-feed",
    tag = "customers",
    summary = "The customer change feed's work so far and the long-polls waiting now.",
    responses(
        (status = 200, description = "Counters.", body = CustomerFeedMetrics),
        (status = 401, description = "No admin token or API key, or a wrong or revoked one.", body = ErrorBody),
        (status = 403, description = "The key's role does not permit this, or it is another merchant's.", body = ErrorBody),
    ),
    security(("admin_token" = []), ("api_key" = [])),
)]
pub(crate) async fn feed_metrics(State(state): State<AppState>) -> Json<CustomerFeedMetrics> {
    let counters = state.services.customers.feed_counters();
    Json(CustomerFeedMetrics {
        pages_computed: counters.pages_computed,
        checks_answered: counters.checks_answered,
        long_polls_waiting: state.notifier.parked() as u64,
    })
}

/// `GET /api/v1/customers/changes` parameters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ChangesQuery {
    /// The cursor of the last page seen; 0 for everything.
    #[serde(default)]
    after: i64,
    /// Seconds to hold the request when nothing changed.
    wait: Option<u64>,
    /// The most customers in the page.
    limit: Option<usize>,
}

/// Customers of the register's merchant changed after `after`; held until
/// one changes, then an empty page at the timeout.
#[utoipa::path(
    get,
    path = "/api/v1/customers/changes",
    operation_id = "customer_changes",
    tag = "sync",
    summary = "Long-poll for customers of the register's merchant changed after a cursor.",
    params(ChangesQuery),
    responses(
        (status = 200, description = "A page (empty at the timeout).", body = CustomerDeltaPage),
        (status = 400, description = "A query parameter does not parse.", body = ErrorBody),
        (status = 401, description = "Missing or wrong register credentials, or a revoked register.", body = ErrorBody),
        (status = 426, description = "A sync protocol version this server does not speak.", body = ErrorBody),
    ),
    security(("register" = [])),
)]
#[tracing::instrument(skip_all, fields(register_id = %register.0.register_id))]
pub(crate) async fn changes(
    State(state): State<AppState>,
    register: AuthenticatedRegister,
    Query(query): Query<ChangesQuery>,
) -> Result<Json<CustomerDeltaPage>, ApiError> {
    let merchant = register.0.merchant_id;
    let limit = query.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
    let deadline = long_poll_deadline(&state, query.wait);
    let mut subscription = state.notifier.subscribe(Topic::Customers, merchant);
    let (state_ref, register_id, after) = (&state, register.0.register_id, query.after);
    // Paced: a register sent a page lately waits for the interval's next
    // tick first, subscribed, so the changes meanwhile make one page, and
    // the registers paced alike share it.
    if let Some(at) = state.services.customers.next_page_at(register_id) {
        subscription.pause_until(at.min(deadline)).await;
    }
    let page = subscription
        // Each check is boxed: its storage reads' futures are freed
        // before the wait, which holds only the subscription.
        .poll_until(deadline, move |wake| {
            Box::pin(async move {
                let page = state_ref
                    .services
                    .customers
                    .changes(
                        merchant,
                        register_id,
                        after,
                        limit,
                        state_ref.clock.now(),
                        wake,
                    )
                    .await?;
                Ok::<_, ApiError>((!page.customers.is_empty()).then_some(page))
            })
        })
        .await?;
    if let Some(page) = &page {
        state.services.customers.page_sent(
            register_id,
            page,
            state.settings.longpoll.customer_page_interval(),
        );
    }
    Ok(Json(page.unwrap_or(CustomerDeltaPage {
        next_cursor: query.after,
        customers: Vec::new(),
        more: false,
        stored_through: None,
        phone_salt: None,
    })))
}
