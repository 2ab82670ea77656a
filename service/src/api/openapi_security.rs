//! OpenAPI additions: the two ways to authenticate (bearer token — an API key or a JWT — and the
//! `x-api-key` header) as security schemes, required on every `/api/v1/render` operation, and the
//! 401 / 429 answers every such operation can give (rate limiting applies to all routes but the
//! health probes and `/metrics`).

use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder};

pub struct SecurityAddon;

fn error_response(description: &str) -> RefOr<Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .build()
        .into()
}

impl utoipa::Modify for SecurityAddon {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("API key or JWT (HS256, RS256, ES256)")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "apiKey",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("x-api-key"))),
        );
        for (path, item) in openapi.paths.paths.iter_mut() {
            let protected = path.starts_with("/api/v1/render");
            let limited = !matches!(path.as_str(), "/api/v1/health" | "/health" | "/metrics");
            for op in [
                &mut item.get,
                &mut item.post,
                &mut item.delete,
                &mut item.put,
            ]
            .into_iter()
            .flatten()
            {
                let responses = &mut op.responses.responses;
                if protected {
                    op.security = Some(vec![
                        SecurityRequirement::new("bearer", Vec::<String>::new()),
                        SecurityRequirement::new("apiKey", Vec::<String>::new()),
                    ]);
                    responses.entry("401".into()).or_insert_with(|| {
                        error_response("Missing or invalid credentials (when authentication is on)")
                    });
                }
                if limited {
                    responses.entry("429".into()).or_insert_with(|| {
                        error_response("Rate limit exceeded (`Retry-After` header)")
                    });
                }
            }
        }
    }
}
