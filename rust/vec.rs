// SPDX-License-Identifier: GPL-2.0

//! Fallible growable vectors for the core, kernel flavour.
//!
//! The host-testable core (`fs/rbtrfs`) uses one small vector API on both
//! sides; on the host it wraps `alloc::vec::Vec` (`fs/rbtrfs/mem_host.rs`),
//! here it wraps [`KVVec`]: kmalloc for small vectors, vmalloc when a
//! large one (a transaction's queue of delayed refs, tens of thousands of
//! entries) would need more contiguous pages than kmalloc can give (over
//! `KMALLOC_MAX_SIZE` it always fails). 6.12's vectors have no `insert`,
//! `remove`, `pop` or `truncate`, so this adds them over `set_len`.

use core::ops::{Deref, DerefMut};
use kernel::alloc::{flags::GFP_KERNEL, KVVec};

/// An allocation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NoMem;

/// A growable vector whose allocations can fail (`GFP_KERNEL`).
#[derive(Debug)]
pub struct Vec<T>(KVVec<T>);

impl<T> Vec<T> {
    /// An empty vector; allocates nothing.
    pub const fn new() -> Self {
        Vec(KVVec::new())
    }

    /// An empty vector with room for `n` elements.
    pub fn with_capacity(n: usize) -> Result<Self, NoMem> {
        KVVec::with_capacity(n, GFP_KERNEL).map(Vec).map_err(|_| NoMem)
    }

    /// Makes room for `n` more elements.
    pub fn reserve(&mut self, n: usize) -> Result<(), NoMem> {
        self.0.reserve(n, GFP_KERNEL).map_err(|_| NoMem)
    }

    /// Appends `v`.
    pub fn push(&mut self, v: T) -> Result<(), NoMem> {
        self.0.push(v, GFP_KERNEL).map_err(|_| NoMem)
    }

    /// Inserts `v` at `i`, shifting the rest up. Panics if `i > len`.
    pub fn insert(&mut self, i: usize, v: T) -> Result<(), NoMem> {
        assert!(i <= self.0.len());
        self.push(v)?;
        self.0[i..].rotate_right(1);
        Ok(())
    }

    /// Removes and returns the element at `i`. Panics if out of range.
    pub fn remove(&mut self, i: usize) -> T {
        self.0[i..].rotate_left(1);
        match self.pop() {
            Some(v) => v,
            None => unreachable!(),
        }
    }

    /// Removes and returns the last element.
    pub fn pop(&mut self) -> Option<T> {
        let n = self.0.len().checked_sub(1)?;
        // SAFETY: `n < len`, so the element at `n` is initialised; it is read
        // out exactly once, and `set_len(n)` below forgets it in the vector.
        let v = unsafe { core::ptr::read(self.0.as_ptr().add(n)) };
        // SAFETY: `n` is below the capacity, and shrinking needs no new
        // initialised elements.
        unsafe { self.0.set_len(n) };
        Some(v)
    }

    /// Drops the elements from `n` on.
    pub fn truncate(&mut self, n: usize) {
        while self.0.len() > n {
            drop(self.pop());
        }
    }

    /// Drops every element.
    pub fn clear(&mut self) {
        self.truncate(0)
    }

    /// The underlying [`KVVec`].
    pub fn into_inner(self) -> KVVec<T> {
        self.0
    }

    /// Keeps only the elements `f` accepts, in order.
    pub fn retain(&mut self, mut f: impl FnMut(&T) -> bool) {
        let mut keep = 0;
        for i in 0..self.0.len() {
            if f(&self.0[i]) {
                self.0.swap(keep, i);
                keep += 1;
            }
        }
        self.truncate(keep);
    }
}

impl<T: Clone> Vec<T> {
    /// Appends a copy of `s`.
    pub fn extend_from_slice(&mut self, s: &[T]) -> Result<(), NoMem> {
        self.0.extend_from_slice(s, GFP_KERNEL).map_err(|_| NoMem)
    }

    /// `n` copies of `v`.
    pub fn from_elem(v: T, n: usize) -> Result<Self, NoMem> {
        KVVec::from_elem(v, n, GFP_KERNEL).map(Vec).map_err(|_| NoMem)
    }

    /// Grows or shrinks to `n` elements, filling with `v`.
    pub fn resize(&mut self, n: usize, v: T) -> Result<(), NoMem> {
        if n > self.0.len() {
            self.0.extend_with(n - self.0.len(), v, GFP_KERNEL).map_err(|_| NoMem)
        } else {
            self.truncate(n);
            Ok(())
        }
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
