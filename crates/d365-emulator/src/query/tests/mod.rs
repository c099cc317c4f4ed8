//! Tests of the planner against the store's real schema.

mod index_plans;
