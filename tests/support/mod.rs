pub mod lan;
pub mod sim;
