//! One file per page (a route of `App`).

mod callback;
mod home;
mod not_found;
mod profile;
mod sessions;
mod sign_in;

pub(crate) use callback::*;
pub(crate) use home::*;
pub(crate) use not_found::*;
pub(crate) use profile::*;
pub(crate) use sessions::*;
pub(crate) use sign_in::*;
