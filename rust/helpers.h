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
#include <linux/types.h>

struct buffer_head *rbtrfs_sb_bread(struct super_block *sb, sector_t block);
void rbtrfs_brelse(struct buffer_head *bh);
int rbtrfs_rwsem_is_contended(struct rw_semaphore *sem);
int rbtrfs_rwsem_is_locked(struct rw_semaphore *sem);
void rbtrfs_might_sleep(void);
loff_t rbtrfs_bdev_nr_bytes(struct block_device *bdev);



/* VFS: inodes, dentries, directories (see rust/inode.rs). */
struct kmem_cache;
struct dir_context;
struct folio;
struct bio;
struct kmem_cache *rbtrfs_inode_cache_create(const char *name, unsigned int size,
					     unsigned int align);
void *rbtrfs_kmem_cache_alloc(struct kmem_cache *cache);
void rbtrfs_i_uid_gid_write(struct inode *inode, uid_t uid, gid_t gid);
void rbtrfs_i_size_write(struct inode *inode, loff_t size);
void rbtrfs_inode_set_times(struct inode *inode, time64_t a_sec, u32 a_nsec,
			    time64_t m_sec, u32 m_nsec, time64_t c_sec, u32 c_nsec);
loff_t rbtrfs_i_size_read(const struct inode *inode);
struct inode *rbtrfs_file_inode(const struct file *file);
bool rbtrfs_file_writable(const struct file *file);
int rbtrfs_file_inode_permission(struct file *file, struct inode *inode, int mask);
struct fileattr;
bool rbtrfs_fileattr_has_fsx(const struct fileattr *fa);
bool rbtrfs_fileattr_flags_valid(const struct fileattr *fa);
struct inode *rbtrfs_d_inode(const struct dentry *dentry);
const unsigned char *rbtrfs_dentry_name(const struct dentry *dentry, unsigned int *len);
bool rbtrfs_dir_emit(struct dir_context *ctx, const char *name, int len, u64 ino,
		     unsigned int type);
bool rbtrfs_dir_emit_dots(struct file *file, struct dir_context *ctx);
void *rbtrfs_err_ptr(long error);

/* Folios (see rust/folio.rs). */
loff_t rbtrfs_folio_pos(struct folio *folio);
size_t rbtrfs_folio_size(struct folio *folio);
void rbtrfs_memcpy_to_folio(struct folio *folio, size_t offset, const void *from, size_t len);
void rbtrfs_folio_zero_range(struct folio *folio, size_t offset, size_t len);
void rbtrfs_folio_mark_uptodate(struct folio *folio);
struct inode *rbtrfs_folio_inode(struct folio *folio);

/* Bios (see rust/bio.rs). */
struct bio *rbtrfs_bio_alloc_read(struct block_device *bdev, unsigned short nr_vecs);
void rbtrfs_bio_set_sector(struct bio *bio, sector_t sector);

/* Mount parameters (see rust/fs.rs). */
struct fs_parameter;
const char *rbtrfs_fs_param_string(const struct fs_parameter *param);

/* sysfs (see rust/sysfs.rs). */
struct attribute;
struct kobject;
void rbtrfs_sysfs_attr_init(struct attribute *attr);
void rbtrfs_kobject_root_set(struct kobject *k);
void rbtrfs_kobject_root_clear(struct kobject *k);
int rbtrfs_kobject_create_unique(const char *name, struct kobject **out);

/* Readahead (see rust/inode.rs). */
struct readahead_control;
struct folio *rbtrfs_readahead_folio(struct readahead_control *rac);
void rbtrfs_bdi_put(struct backing_dev_info *bdi);

/* Time (see rust/time.rs). */
u64 rbtrfs_jiffies_ms(void);
/* Block device writes (see rust/bio.rs). */
struct bio *rbtrfs_bio_alloc_write(struct block_device *bdev, unsigned short nr_vecs, bool fua);
int rbtrfs_bdev_read_only(struct block_device *bdev);

/* Inode fields and dirty state (see rust/inode.rs). */
struct iattr;
void rbtrfs_inode_get_times(struct inode *inode, struct timespec64 *a,
			    struct timespec64 *m, struct timespec64 *c);
void rbtrfs_inode_set_atime(struct inode *inode, time64_t sec, u32 nsec);
void rbtrfs_inode_set_mtime(struct inode *inode, time64_t sec, u32 nsec);
void rbtrfs_inode_set_ctime(struct inode *inode, time64_t sec, u32 nsec);
void rbtrfs_inode_touch_cmtime(struct inode *inode);
uid_t rbtrfs_i_uid_read(const struct inode *inode);
gid_t rbtrfs_i_gid_read(const struct inode *inode);
void rbtrfs_mark_inode_dirty(struct inode *inode, bool sync_only);
void rbtrfs_inode_init_owner(struct inode *inode, const struct inode *dir, umode_t mode);
void rbtrfs_iattr_ids(const struct iattr *attr, uid_t *uid, gid_t *gid);
struct address_space *rbtrfs_inode_mapping(struct inode *inode);

/* Buffered writes and writeback (see rust/inode.rs, rust/folio.rs). */
struct writeback_control;
struct folio *rbtrfs_write_begin_get_folio(struct address_space *mapping, loff_t pos,
					   int *err);
bool rbtrfs_folio_test_uptodate(struct folio *folio);
void rbtrfs_folio_get(struct folio *folio);
void rbtrfs_folio_put(struct folio *folio);
void rbtrfs_folio_start_writeback(struct folio *folio);
void rbtrfs_mapping_set_error(struct folio *folio, int error);
void rbtrfs_memcpy_from_folio(void *to, struct folio *folio, size_t offset, size_t len);
void *rbtrfs_folio_address(struct folio *folio);
bool rbtrfs_wbc_sync_all(const struct writeback_control *wbc);
bool rbtrfs_folio_test_dirty(struct folio *folio);
bool rbtrfs_folio_test_private(struct folio *folio);
void rbtrfs_folio_attach_reservation(struct folio *folio);
void rbtrfs_folio_detach_private(struct folio *folio);
struct super_block *rbtrfs_folio_sb(struct folio *folio);
void rbtrfs_folio_lock(struct folio *folio);
struct address_space *rbtrfs_folio_mapping(struct folio *folio);

/* Shared writable mappings (see rust/inode.rs). */
struct vm_fault;
struct vm_area_struct;
struct vm_operations_struct;
struct folio *rbtrfs_vmf_folio(struct vm_fault *vmf);
struct file *rbtrfs_vmf_file(struct vm_fault *vmf);
void rbtrfs_sb_start_pagefault(struct super_block *sb);
void rbtrfs_sb_end_pagefault(struct super_block *sb);
void rbtrfs_file_mmap(struct file *file, struct vm_area_struct *vma,
		      const struct vm_operations_struct *ops);
void rbtrfs_wbc_range(const struct writeback_control *wbc, loff_t *start, loff_t *end);

/* Delayed work (see rust/workqueue.rs). */
struct delayed_work;
struct work_struct;
struct workqueue_struct;
struct lock_class_key;
void rbtrfs_init_delayed_work(struct delayed_work *dwork, void (*func)(struct work_struct *),
			      struct lock_class_key *key);
struct delayed_work *rbtrfs_to_delayed_work(struct work_struct *work);
unsigned long rbtrfs_msecs_to_jiffies(unsigned int ms);
struct workqueue_struct *rbtrfs_alloc_workqueue(const char *name, unsigned int flags,
						int max_active);
struct workqueue_struct *rbtrfs_system_unbound_wq(void);

/* POSIX ACLs (see rust/acl.rs). */
struct posix_acl;
void rbtrfs_posix_acl_release(struct posix_acl *acl);
struct posix_acl *rbtrfs_posix_acl_from_xattr(const void *value, size_t size);
size_t rbtrfs_posix_acl_xattr_size(const struct posix_acl *acl);
int rbtrfs_posix_acl_to_xattr(const struct posix_acl *acl, void *buf, size_t size);

/* Subvolume ioctls and inode hooks (see rust/ioctl.rs, rust/inode.rs). */
struct kstat;
struct mnt_idmap;
struct path;
struct dentry *rbtrfs_lock_lookup_child(struct file *file, const char *name, int len);
void rbtrfs_unlock_child(struct file *file, struct dentry *child);
int rbtrfs_may_create_child(struct file *file, struct dentry *child);
int rbtrfs_may_delete_child(struct file *file, struct dentry *child);
struct inode *rbtrfs_path_inode(const struct path *path);
void rbtrfs_inode_set_dead(struct inode *inode);
bool rbtrfs_file_owner_or_capable(struct file *file);
bool rbtrfs_inode_owner_or_capable(struct file *file, struct inode *inode);

/* Allocation scopes (see rust/nofs.rs). */
unsigned int rbtrfs_memalloc_nofs_save(void);
void rbtrfs_memalloc_nofs_restore(unsigned int flags);
#endif
