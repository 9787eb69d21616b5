// SPDX-License-Identifier: GPL-2.0

//! Fallible growable vectors for the core, host flavour.
//!
//! The core's code uses [`Vec`] through `crate::mem`. In the module that
//! path names `rfs::vec`, a wrapper over `KVec`; on the host it names this
//! wrapper over `alloc::vec::Vec`. Both have the same small API, with every
//! allocation fallible, so the same source builds in both places.

#![forbid(unsafe_code)]

extern crate alloc;

use core::ops::{Deref, DerefMut};

/// An allocation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NoMem;

/// Fault injection for host tests: when set to N > 0, the Nth allocation
/// from then on fails (once) and the count goes back to 0 (off). The
/// kernel's allocations fail by themselves. A process-wide knob: a test
/// that sets it runs alone in its test binary.
pub static FAIL_NTH_ALLOC: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

fn alloc_allowed() -> Result<(), NoMem> {
    use core::sync::atomic::Ordering::Relaxed;
    let n = FAIL_NTH_ALLOC.load(Relaxed);
    if n == 0 {
        return Ok(());
    }
    FAIL_NTH_ALLOC.store(n - 1, Relaxed);
    if n == 1 {
        Err(NoMem)
    } else {
        Ok(())
    }
}

/// A growable vector whose allocations can fail.
#[derive(Debug)]
pub struct Vec<T>(alloc::vec::Vec<T>);

impl<T> Vec<T> {
    /// An empty vector; allocates nothing.
    pub const fn new() -> Self {
        Vec(alloc::vec::Vec::new())
    }

    /// An empty vector with room for `n` elements.
    pub fn with_capacity(n: usize) -> Result<Self, NoMem> {
        alloc_allowed()?;
        let mut v = alloc::vec::Vec::new();
        v.try_reserve(n).map_err(|_| NoMem)?;
        Ok(Vec(v))
    }

    /// Makes room for `n` more elements.
    pub fn reserve(&mut self, n: usize) -> Result<(), NoMem> {
        if self.0.capacity() - self.0.len() < n {
            alloc_allowed()?;
        }
        self.0.try_reserve(n).map_err(|_| NoMem)
    }

    /// Appends `v`.
    pub fn push(&mut self, v: T) -> Result<(), NoMem> {
        self.reserve(1)?;
        self.0.push(v);
        Ok(())
    }

    /// Inserts `v` at `i`, shifting the rest up. Panics if `i > len`.
    pub fn insert(&mut self, i: usize, v: T) -> Result<(), NoMem> {
        self.reserve(1)?;
        self.0.insert(i, v);
        Ok(())
    }

    /// Removes and returns the element at `i`. Panics if out of range.
    pub fn remove(&mut self, i: usize) -> T {
        self.0.remove(i)
    }

    /// Removes and returns the last element.
    pub fn pop(&mut self) -> Option<T> {
        self.0.pop()
    }

    /// Drops the elements from `n` on.
    pub fn truncate(&mut self, n: usize) {
        self.0.truncate(n)
    }

    /// Drops every element.
    pub fn clear(&mut self) {
        self.0.clear()
    }

    /// Keeps only the elements `f` accepts.
    pub fn retain(&mut self, f: impl FnMut(&T) -> bool) {
        self.0.retain(f)
    }
}

impl<T: Clone> Vec<T> {
    /// Appends a copy of `s`.
    pub fn extend_from_slice(&mut self, s: &[T]) -> Result<(), NoMem> {
        self.reserve(s.len())?;
        self.0.extend_from_slice(s);
        Ok(())
    }

    /// `n` copies of `v`.
    pub fn from_elem(v: T, n: usize) -> Result<Self, NoMem> {
        let mut r = Self::with_capacity(n)?;
        r.0.resize(n, v);
        Ok(r)
    }

    /// Grows or shrinks to `n` elements, filling with `v`.
    pub fn resize(&mut self, n: usize, v: T) -> Result<(), NoMem> {
        if n > self.0.len() {
            self.reserve(n - self.0.len())?;
        }
        self.0.resize(n, v);
        Ok(())
    }
}

impl<T> Default for Vec<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Deref for Vec<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.0
    }
}

impl<T> DerefMut for Vec<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        &mut self.0
    }
}
