/* SPDX-License-Identifier: GPL-2.0 */
/*
 * C helpers for rbtrfs: out-of-line versions of the kernel's static inline
 * functions and macros, which bindgen cannot bind. Each is a one-line wrapper.
 */
#ifndef RBTRFS_HELPERS_H
#define RBTRFS_HELPERS_H

#include <linux/buffer_head.h>
#include <linux/fs.h>
#include <linux/rwsem.h>

struct buffer_head *rbtrfs_sb_bread(struct super_block *sb, sector_t block);
void rbtrfs_brelse(struct buffer_head *bh);
int rbtrfs_rwsem_is_contended(struct rw_semaphore *sem);
int rbtrfs_rwsem_is_locked(struct rw_semaphore *sem);
void rbtrfs_might_sleep(void);
loff_t rbtrfs_bdev_nr_bytes(struct block_device *bdev);

#endif
