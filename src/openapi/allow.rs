//! 405 with `Allow` for a wrong method on a documented path. A route
//! declared with an actix-web macro (`#[get("/…")]`) guards its method on
//! the resource itself: another method finds no resource and reaches the
//! default service, which would say 404. The default service asks the
//! document instead, so what it allows is what is documented, and cannot
//! drift from the routes.

use std::sync::Arc;

use actix_web::dev::ResourceDef;
use actix_web::http::{Method, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse, Route};
use utoipa::openapi::path::PathItem;
use utoipa::openapi::OpenApi as Document;

use crate::error::ApiError;

/// The documented paths, each with the methods it takes.
#[derive(Clone)]
pub struct Allowed(Arc<Vec<(ResourceDef, Vec<Method>)>>);

impl Allowed {
    pub fn new(doc: &Document) -> Self {
        let paths = doc
            .paths
            .paths
            .iter()
            .map(|(path, item)| (ResourceDef::new(path.as_str()), methods(item)))
            .filter(|(_, methods)| !methods.is_empty())
            .collect();
        Self(Arc::new(paths))
    }

    /// The methods documented for `path`, when it is documented with none
    /// of them being `method`.
    pub fn others(&self, path: &str, method: &Method) -> Option<&[Method]> {
        let methods = self
            .0
            .iter()
            .find(|(def, _)| def.is_match(path))
            .map(|(_, methods)| methods.as_slice())?;
        (!methods.contains(method)).then_some(methods)
    }

    /// The answer for a request no route took: 405 with `Allow` on a
    /// documented path, 404 anywhere else.
    pub fn default_service(self) -> Route {
        web::to(move |req: HttpRequest| {
            let allowed = self.clone();
            async move { allowed.answer(&req) }
        })
    }

    fn answer(&self, req: &HttpRequest) -> Result<HttpResponse, ApiError> {
        match self.others(req.path(), req.method()) {
            Some(methods) => {
                let allow = methods
                    .iter()
                    .map(Method::as_str)
                    .collect::<Vec<_>>()
                    .join(", ");
                Err(ApiError::from_status(StatusCode::METHOD_NOT_ALLOWED)
                    .with_header("allow", &allow))
            }
            None => Err(ApiError::from_status(StatusCode::NOT_FOUND)),
        }
    }
}

/// The methods of a path, in the order `Allow` lists them.
fn methods(item: &PathItem) -> Vec<Method> {
    [
        (Method::GET, item.get.is_some()),
        (Method::HEAD, item.head.is_some()),
        (Method::POST, item.post.is_some()),
        (Method::PUT, item.put.is_some()),
        (Method::PATCH, item.patch.is_some()),
        (Method::DELETE, item.delete.is_some()),
        (Method::OPTIONS, item.options.is_some()),
        (Method::TRACE, item.trace.is_some()),
    ]
    .into_iter()
    .filter_map(|(method, documented)| documented.then_some(method))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_documented_path_allows_its_documented_methods() {
        let allowed = Allowed::new(&crate::openapi::annotated());
        assert_eq!(
            allowed.others("/healthz", &Method::DELETE),
            Some(&[Method::GET][..])
        );
        assert_eq!(allowed.others("/healthz", &Method::GET), None);
        assert_eq!(
            allowed.others("/v1/tenants/sevres/consents/abc", &Method::POST),
            Some(&[Method::GET, Method::DELETE][..])
        );
        assert_eq!(allowed.others("/nowhere", &Method::GET), None);
        assert_eq!(allowed.others("/healthz/more", &Method::DELETE), None);
    }
}
