//! The host-independent parts of the filter that need state beyond one request: what is kept in
//! host shared data and the protocols over it ([`shared`]).

pub mod shared;
