// SPDX-License-Identifier: GPL-2.0

//! sysfs directories of read-only files with fixed contents.
//!
//! C: `include/linux/kobject.h`, `include/linux/sysfs.h`. A [`Dir`] is a
//! kobject (`kobject_create_and_add`) under `/sys/fs` or under another
//! `Dir`; [`Dir::add_file`] adds a file whose `show` returns a fixed text.
//! Dropping a `Dir` removes its files, then the directory.
//!
//! One `Dir` of the module can be made the *module root*
//! ([`Dir::set_module_root`], `/sys/fs/btrfs`), under which code that has
//! no reference to it (a mount) creates directories with
//! [`Dir::in_module_root`]: per-filesystem directories, which a mount of
//! the module's filesystem type can only create while the module, and so
//! the root, is there.

use super::bindings;
use core::ptr::NonNull;
use kernel::ffi::c_char;
use kernel::prelude::*;
use kernel::str::CStr;
use kernel::types::Opaque;

/// One file: the C attribute first (`show` finds the text from it).
#[repr(C)]
struct Attr {
    ka: Opaque<bindings::kobj_attribute>,
    text: KVec<u8>,
}

/// A sysfs directory with fixed-text files.
///
/// # Invariants
///
/// `kobj` is a kobject we hold a reference on, in sysfs; every `Attr` in
/// `files` is a file of it until `drop`.
pub struct Dir {
    kobj: NonNull<bindings::kobject>,
    files: KVec<KBox<Attr>>,
}

// SAFETY: kobjects are reference counted and sysfs locks internally; the
// attributes are only touched by sysfs and by `drop`.
unsafe impl Send for Dir {}
// SAFETY: As above; `&Dir` allows no mutation.
unsafe impl Sync for Dir {}

impl Dir {
    fn create(name: &CStr, parent: *mut bindings::kobject) -> Result<Self> {
        // SAFETY: `name` is a NUL-terminated string (the kobject copies
        // it); `parent` is `fs_kobj` or a live kobject of ours.
        let kobj = unsafe { bindings::kobject_create_and_add(name.as_char_ptr(), parent) };
        // INVARIANT: we own the reference the call returned.
        Ok(Self { kobj: NonNull::new(kobj).ok_or(ENOMEM)?, files: KVec::new() })
    }

    /// Creates `/sys/fs/<name>`.
    pub fn in_fs(name: &'static CStr) -> Result<Self> {
        // SAFETY: `fs_kobj` is set up at boot and never changes.
        let fs = unsafe { bindings::fs_kobj };
        Self::create(name, fs)
    }

    /// Creates a subdirectory.
    pub fn child(&self, name: &CStr) -> Result<Self> {
        Self::create(name, self.kobj.as_ptr())
    }

    /// Makes this directory the module root, for [`Dir::in_module_root`],
    /// until it is dropped. Call it on the module's top directory, made at
    /// load, before the filesystem type is registered.
    pub fn set_module_root(&self) {
        // SAFETY: Records our live kobject; `drop` clears it (under the
        // helper's lock) before giving up our reference.
        unsafe { bindings::rbtrfs_kobject_root_set(self.kobj.as_ptr()) };
    }

    /// Creates directory `name` under the module root: `EEXIST` if it is
    /// there already (no duplicate warning), `ENOENT` if there is no root.
    pub fn in_module_root(name: &CStr) -> Result<Self> {
        let mut kobj = core::ptr::null_mut();
        // SAFETY: The helper reads the root under the lock that `drop` of
        // the root takes to clear it, and the new kobject holds a reference
        // on it; `name` is NUL-terminated and copied; `kobj` is written
        // only on success.
        kernel::error::to_result(unsafe { bindings::rbtrfs_kobject_create_unique(name.as_char_ptr(), &mut kobj) })?;
        // INVARIANT: we own the reference the call returned.
        Ok(Self { kobj: NonNull::new(kobj).ok_or(ENOMEM)?, files: KVec::new() })
    }

    /// Adds a read-only file `name` whose contents are `text` (copied).
    pub fn add_file(&mut self, name: &'static CStr, text: &[u8]) -> Result {
        self.files.reserve(1, GFP_KERNEL)?;
        let mut owned = KVec::with_capacity(text.len(), GFP_KERNEL)?;
        owned.extend_from_slice(text, GFP_KERNEL)?;
        let attr = KBox::new(Attr { ka: Opaque::uninit(), text: owned }, GFP_KERNEL)?;
        let ka = attr.ka.get();
        // SAFETY: `ka` is ours to initialise; the name is static; the boxed
        // attribute outlives the file (removed in `drop` before freeing).
        let ret = unsafe {
            ka.write(core::mem::zeroed());
            (*ka).attr.name = name.as_char_ptr();
            (*ka).attr.mode = 0o444;
            (*ka).show = Some(show);
            bindings::rbtrfs_sysfs_attr_init(&mut (*ka).attr);
            bindings::sysfs_create_file_ns(self.kobj.as_ptr(), &(*ka).attr, core::ptr::null())
        };
        kernel::error::to_result(ret)?;
        self.files.push(attr, GFP_KERNEL)?;
        Ok(())
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        // SAFETY: Forgets our kobject as the module root if it is one.
        unsafe { bindings::rbtrfs_kobject_root_clear(self.kobj.as_ptr()) };
        for attr in self.files.iter() {
            // SAFETY: Each attribute is a file of our kobject (invariants).
            unsafe { bindings::sysfs_remove_file_ns(self.kobj.as_ptr(), &(*attr.ka.get()).attr, core::ptr::null()) };
        }
        // SAFETY: We own a reference; this removes the directory once the
        // last reference is gone. The files were removed above, so sysfs
        // no longer calls `show` on the attributes freed after this.
        unsafe { bindings::kobject_put(self.kobj.as_ptr()) };
    }
}

/// `kobj_attribute.show`: copies the file's fixed text.
unsafe extern "C" fn show(
    _kobj: *mut bindings::kobject,
    ka: *mut bindings::kobj_attribute,
    buf: *mut c_char,
) -> isize {
    // SAFETY: `ka` is the first field of one of our `Attr`s (repr(C)), live
    // while its file exists; `buf` is a PAGE_SIZE buffer.
    unsafe {
        let attr = ka.cast::<Attr>();
        let text = &(*attr).text;
        let n = text.len().min(kernel::page::PAGE_SIZE - 1);
        core::ptr::copy_nonoverlapping(text.as_ptr(), buf.cast::<u8>(), n);
        n as isize
    }
}
