/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Headers rbtrfs binds with its own bindgen step (rust/bindgen.sh), beyond
 * what the kernel's `kernel::bindings` covers in 6.12.
 */
#include <linux/backing-dev.h>
#include <linux/bio.h>
#include <linux/blkdev.h>
#include <linux/buffer_head.h>
#include <linux/crc32c.h>
#include <linux/delay.h>
#include <linux/fs.h>
#include <linux/fs_context.h>
#include <linux/fs_parser.h>
#include <linux/iomap.h>
#include <linux/module.h>
#include <linux/pagemap.h>
#include <linux/namei.h>
#include <linux/posix_acl.h>
#include <linux/random.h>
#include <linux/stat.h>
#include <linux/posix_acl_xattr.h>
#include <linux/printk.h>
#include <linux/rwsem.h>
#include <linux/statfs.h>
#include <linux/kobject.h>
#include <linux/lzo.h>
#include <linux/mnt_idmapping.h>
#include <linux/sched/mm.h>
#include <linux/workqueue.h>
#include <linux/writeback.h>
#include <linux/falloc.h>
#include <linux/fiemap.h>
#include <linux/fileattr.h>
#include <linux/sysfs.h>
#include <linux/uio.h>
#include <linux/xattr.h>
#include <linux/zlib.h>
#include <linux/zstd.h>
#include "helpers.h"

/* Macros bindgen cannot see as constants. */
const unsigned long RBTRFS_FS_REQUIRES_DEV = FS_REQUIRES_DEV;
const unsigned long RBTRFS_SB_RDONLY = SB_RDONLY;
const unsigned long RBTRFS_SB_NOSEC = SB_NOSEC;
const unsigned long RBTRFS_SB_POSIXACL = SB_POSIXACL;
const long long RBTRFS_MAX_LFS_FILESIZE = MAX_LFS_FILESIZE;
const unsigned int RBTRFS_S_IFMT = S_IFMT;
const unsigned long RBTRFS_I_NEW = I_NEW;
const unsigned int RBTRFS_SB_RDONLY_UINT = SB_RDONLY;
const unsigned int RBTRFS_WQ_UNBOUND = WQ_UNBOUND;
const unsigned int RBTRFS_WQ_MEM_RECLAIM = WQ_MEM_RECLAIM;
const unsigned int RBTRFS_WQ_FREEZABLE = WQ_FREEZABLE;
const unsigned long RBTRFS_SB_I_STABLE_WRITES = SB_I_STABLE_WRITES;
const unsigned int RBTRFS_S_SYNC = S_SYNC;
const unsigned int RBTRFS_S_APPEND = S_APPEND;
const unsigned int RBTRFS_S_IMMUTABLE = S_IMMUTABLE;
const unsigned int RBTRFS_S_NOATIME = S_NOATIME;
const unsigned int RBTRFS_S_DIRSYNC = S_DIRSYNC;
