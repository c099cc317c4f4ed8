//! A retry budget shared by every request of a client (Finagle's idea): retries without a
//! `Retry-After` spend a token, successes earn part of one back. When a dependency is failing,
//! the budget runs dry and requests fail fast instead of multiplying the load by the retry count.

use std::sync::Mutex;

/// The budget's shape.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryBudgetConfig {
    /// Tokens at the start and at most (a burst of this many retries is always allowed).
    pub capacity: f64,
    /// Tokens earned per successful answer: `0.2` sustains one retry per five successes.
    pub per_success: f64,
}

impl Default for RetryBudgetConfig {
    fn default() -> Self {
        Self {
            capacity: 100.0,
            per_success: 0.2,
        }
    }
}

/// A token bucket of retries. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct RetryBudget {
    config: RetryBudgetConfig,
    tokens: Mutex<f64>,
}

impl RetryBudget {
    /// A full budget.
    pub fn new(config: RetryBudgetConfig) -> Self {
        Self {
            config,
            tokens: Mutex::new(config.capacity),
        }
    }

    /// Takes one retry from the budget; `false` when it is spent.
    pub fn try_spend(&self) -> bool {
        let mut tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Credits a successful answer.
    pub fn earn(&self) {
        let mut tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        *tokens = (*tokens + self.config.per_success).min(self.config.capacity);
    }

    /// Retries left now (rounded down).
    pub fn remaining(&self) -> u32 {
        *self.tokens.lock().unwrap_or_else(|e| e.into_inner()) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spends_then_refills_from_successes() {
        let budget = RetryBudget::new(RetryBudgetConfig {
            capacity: 2.0,
            per_success: 0.5,
        });
        assert!(budget.try_spend());
        assert!(budget.try_spend());
        assert!(!budget.try_spend(), "a spent budget refuses");
        budget.earn();
        assert!(!budget.try_spend(), "half a token is not a retry");
        budget.earn();
        assert!(budget.try_spend());
        for _ in 0..100 {
            budget.earn();
        }
        assert_eq!(budget.remaining(), 2, "capped at capacity");
    }
}
