pub mod lan;
pub mod tmux;
