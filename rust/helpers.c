// SPDX-License-Identifier: GPL-2.0
/*
 * C helpers for rbtrfs, linked into the same module as the Rust code.
 * See helpers.h: only wrappers of static inline functions and macros live here.
 */
#include <linux/blkdev.h>
#include "helpers.h"

struct buffer_head *rbtrfs_sb_bread(struct super_block *sb, sector_t block)
{
	return sb_bread(sb, block);
}

void rbtrfs_brelse(struct buffer_head *bh)
{
	brelse(bh);
}

int rbtrfs_rwsem_is_contended(struct rw_semaphore *sem)
{
	return rwsem_is_contended(sem);
}

int rbtrfs_rwsem_is_locked(struct rw_semaphore *sem)
{
	return rwsem_is_locked(sem);
}

void rbtrfs_might_sleep(void)
{
	might_sleep();
}

loff_t rbtrfs_bdev_nr_bytes(struct block_device *bdev)
{
	return bdev_nr_bytes(bdev);
}
