#include "revive/tensor/storage_impl.h"

#include <new>
#include <string>

namespace revive {
namespace {
// Never destroyed: see live_count.h.
LiveCount& liveStorages = *new LiveCount(StorageImpl::kTypeName);
std::atomic<std::uint64_t> nextStorageId{1};
}  // namespace

StorageImpl::StorageImpl(std::shared_ptr<DataBlock> data)
    : id_(nextStorageId.fetch_add(1, std::memory_order_relaxed)), data_(std::move(data)) {
  REVIVE_CHECK(data_ != nullptr, "a StorageImpl needs a data block");
  liveStorages.increment();
}

StorageImpl::~StorageImpl() {
  liveStorages.decrement();
  // pyobj_slot_ is destroyed next and releases an owned wrapper, if release_resources()
  // did not already (Note [Two counts and release_resources]).
}

std::int64_t StorageImpl::live_count() noexcept {
  return liveStorages.get();
}

// c10 frees only the bytes here: a zombie wrapper stays recorded until the destructor
// (at the last weak reference) gives it back.  See Note [Two counts and release_resources].
void StorageImpl::release_resources() {
  data_.reset();
  pyobj_slot_.target_died();
}

namespace {
// PyTorch's allocator says how much was asked for.
[[noreturn]] void refuse_allocation(std::size_t nbytes, const std::string& why) {
  throw Error(detail::str_cat("DefaultCPUAllocator: can't allocate memory: you tried to allocate ",
                              nbytes, " bytes. ", why));
}
}  // namespace

Storage Storage::create(std::size_t nbytes) {
  // The model also caps what it will really allocate (its storages are zero-filled: an
  // overcommitted huge one would be touched page by page).
  if (nbytes > kMaxBytes) {
    refuse_allocation(nbytes, detail::str_cat("(revive's storages hold at most ", kMaxBytes, " bytes)"));
  }
  try {
    return Storage(make_intrusive<StorageImpl>(std::make_shared<StorageImpl::DataBlock>(nbytes)));
  } catch (const std::bad_alloc&) {
    refuse_allocation(nbytes, "(out of memory)");
  }
}

Storage Storage::share_data() const {
  REVIVE_CHECK(defined(), "share_data() on an undefined storage");
  return Storage(make_intrusive<StorageImpl>(impl_->data()));
}

const std::byte* Storage::data() const {
  REVIVE_CHECK(defined(), "data() on an undefined storage");
  return impl_->data()->data();
}

std::size_t Storage::nbytes() const {
  REVIVE_CHECK(defined(), "nbytes() on an undefined storage");
  return impl_->nbytes();
}

// Era E4's hooks: See Note [The has-PyObject bit].  A vtable that throws here (an
// interpreter without E4) would be a bug of the binding: the hooks cannot report it.
void StorageImpl::incref_pyobject() const noexcept { pyobj_slot_.incref_pyobj(); }
void StorageImpl::decref_pyobject() const noexcept { pyobj_slot_.decref_pyobj(); }
bool StorageImpl::try_incref_pyobject() const noexcept { return pyobj_slot_.try_incref_pyobj(); }

}  // namespace revive
