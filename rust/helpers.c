// SPDX-License-Identifier: GPL-2.0
/*
 * C helpers for rbtrfs, linked into the same module as the Rust code.
 * See helpers.h: only wrappers of static inline functions and macros live here.
 */
#include <linux/bio.h>
#include <linux/blkdev.h>
#include <linux/highmem.h>
#include <linux/pagemap.h>
#include <linux/slab.h>
#include <linux/jiffies.h>
#include <linux/sysfs.h>
#include <linux/fs_parser.h>
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

static void rbtrfs_inode_init_once(void *obj)
{
	/* The VFS inode is the first field of rust/inode.rs's INodeWithData. */
	inode_init_once(obj);
}

struct kmem_cache *rbtrfs_inode_cache_create(const char *name, unsigned int size,
					     unsigned int align)
{
	return kmem_cache_create(name, size, align,
				 SLAB_RECLAIM_ACCOUNT | SLAB_ACCOUNT,
				 rbtrfs_inode_init_once);
}

void *rbtrfs_kmem_cache_alloc(struct kmem_cache *cache)
{
	return kmem_cache_alloc(cache, GFP_KERNEL);
}

void rbtrfs_i_uid_gid_write(struct inode *inode, uid_t uid, gid_t gid)
{
	i_uid_write(inode, uid);
	i_gid_write(inode, gid);
}

void rbtrfs_i_size_write(struct inode *inode, loff_t size)
{
	i_size_write(inode, size);
}

void rbtrfs_inode_set_times(struct inode *inode, time64_t a_sec, u32 a_nsec,
			    time64_t m_sec, u32 m_nsec, time64_t c_sec, u32 c_nsec)
{
	inode_set_atime(inode, a_sec, a_nsec);
	inode_set_mtime(inode, m_sec, m_nsec);
	inode_set_ctime(inode, c_sec, c_nsec);
}

loff_t rbtrfs_i_size_read(const struct inode *inode)
{
	return i_size_read(inode);
}

struct inode *rbtrfs_file_inode(const struct file *file)
{
	return file_inode(file);
}

struct inode *rbtrfs_d_inode(const struct dentry *dentry)
{
	return d_inode(dentry);
}

const unsigned char *rbtrfs_dentry_name(const struct dentry *dentry, unsigned int *len)
{
	*len = dentry->d_name.len;
	return dentry->d_name.name;
}

bool rbtrfs_dir_emit(struct dir_context *ctx, const char *name, int len, u64 ino,
		     unsigned int type)
{
	return dir_emit(ctx, name, len, ino, type);
}

bool rbtrfs_dir_emit_dots(struct file *file, struct dir_context *ctx)
{
	return dir_emit_dots(file, ctx);
}

void *rbtrfs_err_ptr(long error)
{
	return ERR_PTR(error);
}

loff_t rbtrfs_folio_pos(struct folio *folio)
{
	return folio_pos(folio);
}

size_t rbtrfs_folio_size(struct folio *folio)
{
	return folio_size(folio);
}

void rbtrfs_memcpy_to_folio(struct folio *folio, size_t offset, const void *from, size_t len)
{
	memcpy_to_folio(folio, offset, from, len);
}

void rbtrfs_folio_zero_range(struct folio *folio, size_t offset, size_t len)
{
	folio_zero_range(folio, offset, len);
}

void rbtrfs_folio_mark_uptodate(struct folio *folio)
{
	folio_mark_uptodate(folio);
}

struct inode *rbtrfs_folio_inode(struct folio *folio)
{
	return folio->mapping->host;
}

struct bio *rbtrfs_bio_alloc_read(struct block_device *bdev, unsigned short nr_vecs)
{
	return bio_alloc(bdev, nr_vecs, REQ_OP_READ, GFP_NOFS);
}

void rbtrfs_bio_set_sector(struct bio *bio, sector_t sector)
{
	bio->bi_iter.bi_sector = sector;
}

const char *rbtrfs_fs_param_string(const struct fs_parameter *param)
{
	return param->type == fs_value_is_string ? param->string : NULL;
}

void rbtrfs_sysfs_attr_init(struct attribute *attr)
{
	/* One lockdep class for all of rbtrfs's dynamically allocated attributes. */
	sysfs_attr_init(attr);
}

struct folio *rbtrfs_readahead_folio(struct readahead_control *rac)
{
	return readahead_folio(rac);
}

u64 rbtrfs_jiffies_ms(void)
{
	return jiffies_to_msecs(jiffies);
}
