// The cases of pytorch_storage_test.cpp, included there twice: once in the era-E2 suite and
// once in the era-E4 one (PyTorch's expectations of each; `era` says which runs).
// Not a header of its own: it needs that file's includes, usings and fixture.
// NOLINTBEGIN(misc-definitions-in-headers)

// test_storage_dealloc:
//   s0 = torch.UntypedStorage(10); s1 = s0; s0._tracker = t; del t
//   del s0: not finalized; del s1: finalized
BOOST_AUTO_TEST_CASE(test_storage_dealloc) {
  auto [m, t] = make_tracker();
  Ref s0 = I->new_storage(10);
  Ref s1 = s0;
  I->setattr(s0, "_tracker", t);
  t.reset();
  BOOST_TEST(!*m);
  s0.reset();
  BOOST_TEST(!*m);
  s1.reset();
  BOOST_TEST(*m);
}

// test_storage_from_tensor_dealloc:
//   a = torch.randn(10); s0 = a.untyped_storage(); s0._tracker = t; del t
//   s1 = a.untyped_storage(); s0 is s1; hasattr(s1, '_tracker')
//   del a: not finalized; del s0: not finalized; del s1: finalized
BOOST_AUTO_TEST_CASE(test_storage_from_tensor_dealloc) {
  auto [m, t] = make_tracker();
  Ref a = I->empty(10);
  Ref s0 = untyped_storage(*I, a);
  I->setattr(s0, "_tracker", t);
  t.reset();
  Ref s1 = untyped_storage(*I, a);
  BOOST_TEST(s0 == s1);
  BOOST_TEST(I->hasattr(s1, "_tracker"));
  a.reset();
  BOOST_TEST(!*m);
  s0.reset();
  BOOST_TEST(!*m);
  s1.reset();
  BOOST_TEST(*m);
}

// test_storage_from_tensor_dealloc_zombie:
//   s0 = a.untyped_storage(); s0._tracker = t; del t; del s0: not finalized; del a: finalized
BOOST_AUTO_TEST_CASE(test_storage_from_tensor_dealloc_zombie) {
  auto [m, t] = make_tracker();
  Ref a = I->empty(10);
  Ref s0 = untyped_storage(*I, a);
  I->setattr(s0, "_tracker", t);
  t.reset();
  s0.reset();
  BOOST_TEST(!*m);
  a.reset();
  BOOST_TEST(*m);
}

// test_storage_from_tensor_dealloc_resurrected:
//   ... del s0; s0 = a.untyped_storage(); isinstance(s0._tracker, Tracker)
//   del a: not finalized; del s0: finalized
BOOST_AUTO_TEST_CASE(test_storage_from_tensor_dealloc_resurrected) {
  auto [m, t] = make_tracker();
  const PyType* tracker_type = I->type_of(t);
  Ref a = I->empty(10);
  Ref s0 = untyped_storage(*I, a);
  I->setattr(s0, "_tracker", t);
  t.reset();
  s0.reset();
  BOOST_TEST(!*m);
  s0 = untyped_storage(*I, a);
  BOOST_TEST(I->type_of(std::get<Ref>(I->getattr(s0, "_tracker"))) == tracker_type);
  a.reset();
  BOOST_TEST(!*m);
  s0.reset();
  BOOST_TEST(*m);
}

// test_storage_dealloc_resurrected:
//   s = torch.UntypedStorage(10); s._tracker = t; del t; a = torch.tensor(s)
//   del s: not finalized; s = a.untyped_storage(); isinstance(s._tracker, Tracker)
//   del a: not finalized; del s: finalized
BOOST_AUTO_TEST_CASE(test_storage_dealloc_resurrected) {
  auto [m, t] = make_tracker();
  const PyType* tracker_type = I->type_of(t);
  Ref s = I->new_storage(10);
  I->setattr(s, "_tracker", t);
  t.reset();
  Ref a = tensor_from_storage(*I, s);
  BOOST_TEST(!*m);
  s.reset();
  BOOST_TEST(!*m);
  s = untyped_storage(*I, a);
  BOOST_TEST(I->type_of(std::get<Ref>(I->getattr(s, "_tracker"))) == tracker_type);
  a.reset();
  BOOST_TEST(!*m);
  s.reset();
  BOOST_TEST(*m);
}

// test_storage_dealloc_subclass_zombie:
//   s = MyStorage(10); s._tracker = t; del t; a = torch.tensor(s)
//   del s: finalized_count == 0, not m[0]; del a: finalized_count == 1, m[0]
BOOST_AUTO_TEST_CASE(test_storage_dealloc_subclass_zombie) {
  int finalized_count = 0;
  const PyType* cls = my_storage(&finalized_count);
  auto [m, t] = make_tracker();
  Ref s = I->new_storage(10, cls);
  I->setattr(s, "_tracker", t);
  t.reset();
  Ref a = tensor_from_storage(*I, s);
  BOOST_TEST(!*m);
  s.reset();
  BOOST_TEST(finalized_count == 0);
  BOOST_TEST(!*m);
  a.reset();
  BOOST_TEST(finalized_count == 1);
  BOOST_TEST(*m);
}

// test_storage_dealloc_subclass_resurrected:
//   ... del s: count 0; s = a.untyped_storage(); del a; del s: count 1, m[0]
BOOST_AUTO_TEST_CASE(test_storage_dealloc_subclass_resurrected) {
  int finalized_count = 0;
  const PyType* cls = my_storage(&finalized_count);
  auto [m, t] = make_tracker();
  Ref s = I->new_storage(10, cls);
  I->setattr(s, "_tracker", t);
  t.reset();
  Ref a = tensor_from_storage(*I, s);
  BOOST_TEST(!*m);
  s.reset();
  BOOST_TEST(finalized_count == 0);
  BOOST_TEST(!*m);
  s = untyped_storage(*I, a);
  BOOST_TEST(I->type_of(s) == cls);
  a.reset();
  s.reset();
  BOOST_TEST(finalized_count == 1);
  BOOST_TEST(*m);
}

// test_storage_preserve_nonhermetic_in_hermetic_context: a storage wrapper made
// outside hermetic mode, whose last Python reference is dropped inside it, keeps
// its state (the dealloc ignores the TLS and reads is_hermetic).
BOOST_AUTO_TEST_CASE(test_storage_preserve_nonhermetic_in_hermetic_context, *utf::label("hermetic")) {
  auto [m, t] = make_tracker();
  Ref a = I->empty(10);
  Ref s = untyped_storage(*I, a);
  I->setattr(s, "_tracker", t);
  t.reset();
  {
    impl::EnableHermeticPyObject hermetic;
    s.reset();
  }
  BOOST_TEST(!*m);
  s = untyped_storage(*I, a);
  BOOST_TEST(I->hasattr(s, "_tracker"));
  a.reset();
  s.reset();
  BOOST_TEST(*m);
}

// test_storage_slot_dealloc:
//   class SlotStorage1(torch._C.StorageBase): __slots__ = ["slot1"]
//   class SlotStorage2(SlotStorage1): __slots__ = ["slot2"]
//   slot_storage = SlotStorage2(torch.UntypedStorage(2))
//   slot_storage.slot1 = t1; slot_storage.slot2 = t2; del t1, t2
//   not m1[0], not m2[0]; del slot_storage; m1[0] and m2[0]
BOOST_AUTO_TEST_CASE(test_storage_slot_dealloc) {
  // Over the C base (storage_type()->base), as PyTorch's test: no __dict__ anywhere.
  const PyType* s1 =
      I->new_class("SlotStorage1", I->storage_type()->base, ClassSpec{std::vector<std::string>{"slot1"}, {}});
  const PyType* s2 = I->new_class("SlotStorage2", s1, ClassSpec{std::vector<std::string>{"slot2"}, {}});
  auto [m1, t1] = make_tracker();
  auto [m2, t2] = make_tracker();
  Ref slot_storage = I->new_storage(2, s2);
  I->setattr(slot_storage, "slot1", t1);
  I->setattr(slot_storage, "slot2", t2);
  t1.reset();
  t2.reset();
  BOOST_TEST(!*m1);
  BOOST_TEST(!*m2);
  slot_storage.reset();
  BOOST_TEST(*m1);
  BOOST_TEST(*m2);
}

// test_storage_dict_dealloc:
//   x = torch.UntypedStorage(2); x.arf = t; del t; not m[0]; del x; m[0]
BOOST_AUTO_TEST_CASE(test_storage_dict_dealloc) {
  auto [m, t] = make_tracker();
  Ref x = I->new_storage(2);
  I->setattr(x, "arf", t);
  t.reset();
  BOOST_TEST(!*m);
  x.reset();
  BOOST_TEST(*m);
}

// test_storage_finalizer_dealloc:
//   class FinalizerStorage(torch._C.StorageBase): def __del__(self): m[0] = True
//   fin_storage = FinalizerStorage(torch.UntypedStorage(2)); not m[0]; del fin_storage; m[0]
BOOST_AUTO_TEST_CASE(test_storage_finalizer_dealloc) {
  auto m = std::make_shared<bool>(false);
  const PyType* fin = I->new_class("FinalizerStorage", I->storage_type()->base,
                                   ClassSpec{std::nullopt, [m](Runtime&, const Ref&) { *m = true; }});
  Ref fin_storage = I->new_storage(2, fin);
  BOOST_TEST(!*m);
  fin_storage.reset();
  BOOST_TEST(*m);
}

// test_storage_weakref_dealloc:
//   s = torch.UntypedStorage(2); wref = weakref.ref(s, cb); del s; m[0]; wref() is None
BOOST_AUTO_TEST_CASE(test_storage_weakref_dealloc) {
  bool m = false;
  Ref s = I->new_storage(2);
  Ref wref = I->weakref(s, [&m](Runtime&, const Ref&) { m = true; });
  s.reset();
  BOOST_TEST(m);
  BOOST_TEST(I->deref(wref).is_none());
}

// test_storage_dead_weak_ref (E2):
//   x = torch.UntypedStorage(2); w_x = weakref.ref(x); y = torch.tensor(x); del x
//   x = w_x()   # revived without a flip: the weakref hole
//   del y
//   assertRaisesRegex(RuntimeError, "Got a null Storage", lambda: x[0])
//   assertRaisesRegex(RuntimeError, "Got a null Storage", lambda: x.float())
// (x[0] and x.float() both start with THPStorage_assertNotNull; here x.nbytes() does.)
// E4's text (no hole: the storage's wrapper lives while C++ holds the storage):
//   x = torch.UntypedStorage(2); w_x = weakref.ref(x); y = torch.tensor(x); del x
//   self.assertIsNotNone(w_x()); del y; self.assertIsNone(w_x())
BOOST_AUTO_TEST_CASE(test_storage_dead_weak_ref, *utf::label("weakref-hole")) {
  Ref x = I->new_storage(2);
  Ref w_x = I->weakref(x);
  Ref y = tensor_from_storage(*I, x);
  x.reset();
  if (era == Era::E4) {
    BOOST_TEST(!I->deref(w_x).is_none());
    y.reset();
    BOOST_TEST(I->deref(w_x).is_none());
    BOOST_TEST(I->warnings().empty());
    return;
  }
  x = I->deref(w_x);
  y.reset();
  BOOST_CHECK_EXCEPTION((void)storage_nbytes(*I, x), Error, message_is("Got a null Storage"));
  BOOST_CHECK_EXCEPTION((void)tensor_from_storage(*I, x), Error, message_is("Got a null Storage"));
  BOOST_TEST(I->warnings().size() == 1u);
}

// test_storage_resurrected_weak_ref:
//   ... x = w_x(); x._fix_weakref(); del y; x.float()
BOOST_AUTO_TEST_CASE(test_storage_resurrected_weak_ref, *utf::label("weakref-hole")) {
  Ref x = I->new_storage(2);
  Ref w_x = I->weakref(x);
  Ref y = tensor_from_storage(*I, x);
  x.reset();
  x = I->deref(w_x);
  I->fix_weakref(x);
  y.reset();
  BOOST_TEST(storage_nbytes(*I, x) == 2u);
  BOOST_TEST(I->warnings().empty());
}

// test_storage_fix_weakref_no_leak:
//   a = torch.UntypedStorage(1); wa = weakref.ref(a, callback); a._fix_weakref(); del a
//   called
BOOST_AUTO_TEST_CASE(test_storage_fix_weakref_no_leak, *utf::label("weakref-hole")) {
  bool called = false;
  Ref a = I->new_storage(1);
  Ref wa = I->weakref(a, [&called](Runtime&, const Ref&) { called = true; });
  I->fix_weakref(a);
  a.reset();
  BOOST_TEST(called);
}
// NOLINTEND(misc-definitions-in-headers)
