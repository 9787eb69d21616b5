// SPDX-License-Identifier: GPL-2.0
/*
 * C helpers for rbtrfs, linked into the same module as the Rust code.
 * See helpers.h: only wrappers of static inline functions and macros live here.
 */
#include <linux/backing-dev.h>
#include <linux/bio.h>
#include <linux/blkdev.h>
#include <linux/highmem.h>
#include <linux/pagemap.h>
#include <linux/posix_acl.h>
#include <linux/posix_acl_xattr.h>
#include <linux/slab.h>
#include <linux/jiffies.h>
#include <linux/fileattr.h>
#include <linux/kernfs.h>
#include <linux/kobject.h>
#include <linux/mutex.h>
#include <linux/sysfs.h>
#include <linux/fs_parser.h>
#include <linux/mnt_idmapping.h>
#include <linux/namei.h>
#include <linux/sched/mm.h>
#include <linux/workqueue.h>
#include <linux/writeback.h>
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

bool rbtrfs_file_writable(const struct file *file)
{
	return file->f_mode & FMODE_WRITE;
}

int rbtrfs_file_inode_permission(struct file *file, struct inode *inode, int mask)
{
	return inode_permission(file_mnt_idmap(file), inode, mask);
}

bool rbtrfs_fileattr_has_fsx(const struct fileattr *fa)
{
	return fileattr_has_fsx(fa);
}

bool rbtrfs_fileattr_flags_valid(const struct fileattr *fa)
{
	return fa->flags_valid;
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

/* Writes and flushes of the block device (see rust/bio.rs). */
struct bio *rbtrfs_bio_alloc_write(struct block_device *bdev, unsigned short nr_vecs, bool fua)
{
	blk_opf_t opf = REQ_OP_WRITE | REQ_SYNC;

	if (fua)
		opf |= REQ_FUA;
	return bio_alloc(bdev, nr_vecs, opf, GFP_NOFS);
}

int rbtrfs_bdev_read_only(struct block_device *bdev)
{
	return bdev_read_only(bdev);
}

/* Inode fields and dirty state (see rust/inode.rs). */
void rbtrfs_inode_get_times(struct inode *inode, struct timespec64 *a,
			    struct timespec64 *m, struct timespec64 *c)
{
	*a = inode_get_atime(inode);
	*m = inode_get_mtime(inode);
	*c = inode_get_ctime(inode);
}

void rbtrfs_inode_set_atime(struct inode *inode, time64_t sec, u32 nsec)
{
	inode_set_atime(inode, sec, nsec);
}

void rbtrfs_inode_set_mtime(struct inode *inode, time64_t sec, u32 nsec)
{
	inode_set_mtime(inode, sec, nsec);
}

void rbtrfs_inode_set_ctime(struct inode *inode, time64_t sec, u32 nsec)
{
	inode_set_ctime(inode, sec, nsec);
}

void rbtrfs_inode_touch_cmtime(struct inode *inode)
{
	inode_set_mtime_to_ts(inode, inode_set_ctime_current(inode));
}

uid_t rbtrfs_i_uid_read(const struct inode *inode)
{
	return i_uid_read(inode);
}

gid_t rbtrfs_i_gid_read(const struct inode *inode)
{
	return i_gid_read(inode);
}

void rbtrfs_mark_inode_dirty(struct inode *inode, bool sync_only)
{
	if (sync_only)
		mark_inode_dirty_sync(inode);
	else
		mark_inode_dirty(inode);
}

void rbtrfs_inode_init_owner(struct inode *inode, const struct inode *dir, umode_t mode)
{
	/* rbtrfs does not set FS_ALLOW_IDMAP: every mount has the nop idmap. */
	inode_init_owner(&nop_mnt_idmap, inode, dir, mode);
}

void rbtrfs_iattr_ids(const struct iattr *attr, uid_t *uid, gid_t *gid)
{
	*uid = from_kuid(&init_user_ns, attr->ia_uid);
	*gid = from_kgid(&init_user_ns, attr->ia_gid);
}

struct address_space *rbtrfs_inode_mapping(struct inode *inode)
{
	return inode->i_mapping;
}

/* Buffered writes and writeback (see rust/inode.rs, rust/folio.rs). */
struct folio *rbtrfs_write_begin_get_folio(struct address_space *mapping, loff_t pos,
					   int *err)
{
	struct folio *folio = __filemap_get_folio(mapping, pos >> PAGE_SHIFT, FGP_WRITEBEGIN,
						  mapping_gfp_mask(mapping));

	if (IS_ERR(folio)) {
		*err = PTR_ERR(folio);
		return NULL;
	}
	*err = 0;
	return folio;
}

bool rbtrfs_folio_test_dirty(struct folio *folio)
{
	return folio_test_dirty(folio);
}

bool rbtrfs_folio_test_private(struct folio *folio)
{
	return folio_test_private(folio);
}

/*
 * A folio's private pointer is only a flag for rbtrfs: "this folio holds a
 * data space reservation" (no buffer heads, no other state).
 */
void rbtrfs_folio_attach_reservation(struct folio *folio)
{
	folio_attach_private(folio, (void *)1UL);
}

void rbtrfs_folio_detach_private(struct folio *folio)
{
	folio_detach_private(folio);
}

struct super_block *rbtrfs_folio_sb(struct folio *folio)
{
	return folio->mapping->host->i_sb;
}

void rbtrfs_folio_lock(struct folio *folio)
{
	folio_lock(folio);
}

struct address_space *rbtrfs_folio_mapping(struct folio *folio)
{
	return folio->mapping;
}

struct folio *rbtrfs_vmf_folio(struct vm_fault *vmf)
{
	return page_folio(vmf->page);
}

struct file *rbtrfs_vmf_file(struct vm_fault *vmf)
{
	return vmf->vma->vm_file;
}

void rbtrfs_sb_start_pagefault(struct super_block *sb)
{
	sb_start_pagefault(sb);
}

void rbtrfs_sb_end_pagefault(struct super_block *sb)
{
	sb_end_pagefault(sb);
}

void rbtrfs_file_mmap(struct file *file, struct vm_area_struct *vma,
		      const struct vm_operations_struct *ops)
{
	file_accessed(file);
	vma->vm_ops = ops;
}

bool rbtrfs_folio_test_uptodate(struct folio *folio)
{
	return folio_test_uptodate(folio);
}

void rbtrfs_folio_get(struct folio *folio)
{
	folio_get(folio);
}

void rbtrfs_folio_put(struct folio *folio)
{
	folio_put(folio);
}

void rbtrfs_folio_start_writeback(struct folio *folio)
{
	folio_start_writeback(folio);
}

void rbtrfs_mapping_set_error(struct folio *folio, int error)
{
	mapping_set_error(folio->mapping, error);
}

void rbtrfs_memcpy_from_folio(void *to, struct folio *folio, size_t offset, size_t len)
{
	memcpy_from_folio(to, folio, offset, len);
}

void *rbtrfs_folio_address(struct folio *folio)
{
	return folio_test_highmem(folio) ? NULL : folio_address(folio);
}

bool rbtrfs_wbc_sync_all(const struct writeback_control *wbc)
{
	return wbc->sync_mode == WB_SYNC_ALL;
}

void rbtrfs_wbc_range(const struct writeback_control *wbc, loff_t *start, loff_t *end)
{
	*start = wbc->range_cyclic ? 0 : wbc->range_start;
	*end = wbc->range_cyclic ? LLONG_MAX : wbc->range_end;
}

/* Delayed work (see rust/workqueue.rs). */
void rbtrfs_init_delayed_work(struct delayed_work *dwork, work_func_t func,
			      struct lock_class_key *key)
{
	__INIT_WORK_KEY(&dwork->work, func, 0, key);
	__init_timer(&dwork->timer, delayed_work_timer_fn, TIMER_IRQSAFE);
}

struct delayed_work *rbtrfs_to_delayed_work(struct work_struct *work)
{
	return to_delayed_work(work);
}

unsigned long rbtrfs_msecs_to_jiffies(unsigned int ms)
{
	return msecs_to_jiffies(ms);
}

struct workqueue_struct *rbtrfs_alloc_workqueue(const char *name, unsigned int flags,
						int max_active)
{
	return alloc_workqueue("%s", flags, max_active, name);
}

struct workqueue_struct *rbtrfs_system_unbound_wq(void)
{
	return system_unbound_wq;
}

/*
 * POSIX ACLs (see rust/acl.rs). rbtrfs stores ids as the initial user
 * namespace sees them, as btrfs does (`&init_user_ns`).
 */
void rbtrfs_posix_acl_release(struct posix_acl *acl)
{
	posix_acl_release(acl);
}

struct posix_acl *rbtrfs_posix_acl_from_xattr(const void *value, size_t size)
{
	return posix_acl_from_xattr(&init_user_ns, value, size);
}

size_t rbtrfs_posix_acl_xattr_size(const struct posix_acl *acl)
{
	return posix_acl_xattr_size(acl->a_count);
}

int rbtrfs_posix_acl_to_xattr(const struct posix_acl *acl, void *buf, size_t size)
{
	return posix_acl_to_xattr(&init_user_ns, acl, buf, size);
}

/* Allocation scopes (see rust/nofs.rs). */
unsigned int rbtrfs_memalloc_nofs_save(void)
{
	return memalloc_nofs_save();
}

void rbtrfs_memalloc_nofs_restore(unsigned int flags)
{
	memalloc_nofs_restore(flags);
}

/*
 * The module's root sysfs directory (/sys/fs/btrfs), under which mounts
 * create their own: set and cleared by rust/sysfs.rs, read under the same
 * lock as the creation, which takes a reference on it.
 */
static DEFINE_MUTEX(rbtrfs_kobject_lock);
static struct kobject *rbtrfs_root_kobj;

void rbtrfs_kobject_root_set(struct kobject *k)
{
	mutex_lock(&rbtrfs_kobject_lock);
	rbtrfs_root_kobj = k;
	mutex_unlock(&rbtrfs_kobject_lock);
}

void rbtrfs_kobject_root_clear(struct kobject *k)
{
	mutex_lock(&rbtrfs_kobject_lock);
	if (rbtrfs_root_kobj == k)
		rbtrfs_root_kobj = NULL;
	mutex_unlock(&rbtrfs_kobject_lock);
}

/*
 * kobject_create_and_add under the root, unless it already has an entry
 * `name`: -EEXIST then, instead of sysfs's duplicate-name warning (two
 * mounts of filesystems with the same fsid); -ENOENT without a root.
 */
int rbtrfs_kobject_create_unique(const char *name, struct kobject **out)
{
	struct kernfs_node *kn;
	int ret = 0;

	mutex_lock(&rbtrfs_kobject_lock);
	if (!rbtrfs_root_kobj) {
		ret = -ENOENT;
		goto out;
	}
	kn = kernfs_find_and_get(rbtrfs_root_kobj->sd, name);
	if (kn) {
		kernfs_put(kn);
		ret = -EEXIST;
	} else {
		*out = kobject_create_and_add(name, rbtrfs_root_kobj);
		if (!*out)
			ret = -ENOMEM;
	}
out:
	mutex_unlock(&rbtrfs_kobject_lock);
	return ret;
}

void rbtrfs_bdi_put(struct backing_dev_info *bdi)
{
	bdi_put(bdi);
}

/*
 * Locks the directory of @file as a parent (I_MUTEX_PARENT, killable) and
 * looks up @name in it with the file's mount idmapping, as C btrfs's
 * subvolume ioctls do. Returns the (possibly negative) dentry with the
 * lock held, or an ERR_PTR with it released.
 */
struct dentry *rbtrfs_lock_lookup_child(struct file *file, const char *name, int len)
{
	struct dentry *parent = file->f_path.dentry;
	struct inode *dir = d_inode(parent);
	struct dentry *child;
	int err;

	err = down_write_killable_nested(&dir->i_rwsem, I_MUTEX_PARENT);
	if (err)
		return ERR_PTR(err);
	child = lookup_one(file_mnt_idmap(file), name, parent, len);
	if (IS_ERR(child))
		inode_unlock(dir);
	return child;
}

/* Drops @child and unlocks the directory of @file. */
void rbtrfs_unlock_child(struct file *file, struct dentry *child)
{
	dput(child);
	inode_unlock(d_inode(file->f_path.dentry));
}

/* C btrfs's btrfs_may_create for @child of the (locked) directory of @file. */
int rbtrfs_may_create_child(struct file *file, struct dentry *child)
{
	struct inode *dir = d_inode(file->f_path.dentry);
	struct mnt_idmap *idmap = file_mnt_idmap(file);

	if (d_really_is_positive(child))
		return -EEXIST;
	if (IS_DEADDIR(dir))
		return -ENOENT;
	if (!fsuidgid_has_mapping(dir->i_sb, idmap))
		return -EOVERFLOW;
	return inode_permission(idmap, dir, MAY_WRITE | MAY_EXEC);
}

/* C btrfs's btrfs_may_delete(..., isdir = 1) for @child of the directory of @file. */
int rbtrfs_may_delete_child(struct file *file, struct dentry *child)
{
	struct inode *dir = d_inode(file->f_path.dentry);
	struct mnt_idmap *idmap = file_mnt_idmap(file);
	struct inode *inode;
	int err;

	if (d_really_is_negative(child))
		return -ENOENT;
	inode = d_inode(child);
	err = inode_permission(idmap, dir, MAY_WRITE | MAY_EXEC);
	if (err)
		return err;
	if (IS_APPEND(dir))
		return -EPERM;
	if (check_sticky(idmap, dir, inode) || IS_APPEND(inode) ||
	    IS_IMMUTABLE(inode) || IS_SWAPFILE(inode))
		return -EPERM;
	if (!d_is_dir(child))
		return -ENOTDIR;
	if (IS_ROOT(child))
		return -EBUSY;
	if (IS_DEADDIR(dir))
		return -ENOENT;
	if (child->d_flags & DCACHE_NFSFS_RENAMED)
		return -EBUSY;
	return 0;
}

struct inode *rbtrfs_path_inode(const struct path *path)
{
	return d_inode(path->dentry);
}

/* Marks a deleted subvolume's root directory dead (S_DEAD), as C does. */
void rbtrfs_inode_set_dead(struct inode *inode)
{
	inode->i_flags |= S_DEAD;
}

bool rbtrfs_file_owner_or_capable(struct file *file)
{
	return inode_owner_or_capable(file_mnt_idmap(file), file_inode(file));
}

bool rbtrfs_inode_owner_or_capable(struct file *file, struct inode *inode)
{
	return inode_owner_or_capable(file_mnt_idmap(file), inode);
}
