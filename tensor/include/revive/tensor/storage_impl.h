// storage_impl.h: the refcounted buffer behind tensors, with its own Python wrapper slot.
//
// Defines:
//   StorageImpl   intrusively refcounted; holds a shared data block and a PyObjectSlot.
//   Storage       the owning handle (c10::Storage); may be undefined.
//
// Example (compiled in test/tensor/tensor_test.cpp):
//   Storage s = Storage::create(16);          // StorageImpl::live_count() == 1
//   Storage alias = s.share_data();           // a new StorageImpl over the same bytes
//   assert(alias.data() == s.data() && alias.unsafeGetStorageImpl() != s.unsafeGetStorageImpl());
//
// Storages are preserved like tensors (E2, PyTorch 2.1+), with two differences that
// binding/ implements: the wrapper's is_hermetic flag, and the cross-interpreter wrap
// that makes a new StorageImpl sharing the data (share_data() below).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "revive/pyslot/py_object_slot.h"
#include "revive/tensor/intrusive_ptr.h"
#include "revive/tensor/live_count.h"

namespace revive {

class StorageImpl;
// A StorageImpl can have a Python wrapper: its handles test E4's bit (Note [The has-PyObject bit]).
template <>
struct TargetTraits<StorageImpl> {
  static constexpr bool can_have_pyobject = true;
};

class StorageImpl final : public intrusive_ptr_target {
 public:
  // What the pictures and the leak checks call this type, and who holds one in C++.
  static constexpr std::string_view kTypeName = "StorageImpl";
  static constexpr std::string_view kHeldBy = "tensors, Storage handles";

  using DataBlock = std::vector<std::byte>;

  explicit StorageImpl(std::shared_ptr<DataBlock> data);
  ~StorageImpl() override;

  [[nodiscard]] impl::PyObjectSlot* pyobj_slot() noexcept { return &pyobj_slot_; }
  [[nodiscard]] const impl::PyObjectSlot* pyobj_slot() const noexcept { return &pyobj_slot_; }
  // 0 once release_resources() freed the bytes.
  [[nodiscard]] std::size_t nbytes() const noexcept { return data_ ? data_->size() : 0; }
  [[nodiscard]] const std::shared_ptr<DataBlock>& data() const noexcept { return data_; }
  [[nodiscard]] std::uint64_t id() const noexcept { return id_; }

  // Instances constructed and not yet destroyed, process-wide (leak checks).
  [[nodiscard]] static std::int64_t live_count() noexcept;

 protected:
  // See Note [Two counts and release_resources].
  void release_resources() override;

  // Era E4: See Note [The has-PyObject bit] (intrusive_ptr.h).  Through the slot.
  void incref_pyobject() const noexcept override;
  void decref_pyobject() const noexcept override;
  [[nodiscard]] bool try_incref_pyobject() const noexcept override;

 private:
  std::uint64_t id_;
  // Shared (not owned exclusively) so a second StorageImpl can alias the same bytes;
  // see Note [Storage wrap across interpreters] (binding/).  Null after
  // release_resources().
  std::shared_ptr<DataBlock> data_;
  // Declared last so it is destroyed first: a zombie wrapper's finalizer runs while
  // every other member is still intact.
  impl::PyObjectSlot pyobj_slot_;
};

class Storage {
 public:
  using impl_type = StorageImpl;

  Storage() noexcept = default;  // undefined
  explicit Storage(intrusive_ptr<StorageImpl> impl) noexcept : impl_(std::move(impl)) {}

  // A fresh storage of `nbytes` zero bytes; at most kMaxBytes, else PyTorch's
  // allocator error naming the size asked for.
  static constexpr std::size_t kMaxBytes = std::size_t{1} << 30;
  [[nodiscard]] static Storage create(std::size_t nbytes);

  // A new StorageImpl over the same data block (c10::newStorageImplFromRefcountedDataPtr).
  [[nodiscard]] Storage share_data() const;

  // Borrowed -> owned: throws if the storage is already being destroyed.
  [[nodiscard]] static Storage unsafe_reclaim_from_nonowning(StorageImpl* raw) {
    return Storage(intrusive_ptr<StorageImpl>::unsafe_reclaim_from_nonowning(raw));
  }

  [[nodiscard]] bool defined() const noexcept { return impl_.defined(); }
  [[nodiscard]] std::uint32_t use_count() const noexcept { return impl_.use_count(); }
  [[nodiscard]] StorageImpl* unsafeGetStorageImpl() const noexcept { return impl_.get(); }
  [[nodiscard]] const intrusive_ptr<StorageImpl>& getIntrusivePtr() const noexcept { return impl_; }
  [[nodiscard]] const std::byte* data() const;
  [[nodiscard]] std::size_t nbytes() const;
  void reset() noexcept { impl_.reset(); }

 private:
  intrusive_ptr<StorageImpl> impl_;
};

}  // namespace revive
