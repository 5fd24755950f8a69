pub mod lan;
pub mod sim;
pub mod tmux;
