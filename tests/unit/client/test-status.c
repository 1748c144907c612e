/* test-status.c - status names and sentences, default chunksize, errors. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "client_internal.h"
#include "polypool.h"

START_TEST(strerror_never_null)
{
    for (int s = -5; s <= PP_STATUS_MAX + 5; s++) {
        ck_assert_ptr_nonnull(pp_strerror((pp_status)s));
        ck_assert_ptr_nonnull(pp_status_name((pp_status)s));
        ck_assert_int_gt((int)strlen(pp_strerror((pp_status)s)), 0);
    }
    ck_assert_ptr_nonnull(pp_strerror((pp_status)100000));
}
END_TEST

START_TEST(status_names)
{
    ck_assert_str_eq(pp_status_name(PP_OK), "PP_OK");
    ck_assert_str_eq(pp_status_name(PP_ETIMEDOUT), "PP_ETIMEDOUT");
    ck_assert_str_eq(pp_status_name(PP_EFORKED), "PP_EFORKED");
    ck_assert_str_eq(pp_status_name(PP_ESTATE), "PP_ESTATE");
    ck_assert_str_eq(pp_status_name((pp_status)(PP_STATUS_MAX + 1)), "PP_E?");
    ck_assert_str_eq(pp_status_name((pp_status)-1), "PP_E?");
    /* every known status has a distinct name starting with PP_ */
    for (int a = 0; a <= PP_STATUS_MAX; a++) {
        ck_assert(strncmp(pp_status_name((pp_status)a), "PP_", 3) == 0);
        ck_assert_str_ne(pp_status_name((pp_status)a), "PP_E?");
        for (int b = a + 1; b <= PP_STATUS_MAX; b++)
            ck_assert_str_ne(pp_status_name((pp_status)a), pp_status_name((pp_status)b));
    }
}
END_TEST

START_TEST(wire_numbers)
{
    ck_assert_int_eq(PP_ETASK, POLYPOOL__V1__STATUS__STATUS_ETASK);
    ck_assert_int_eq(PP_ESTATE, POLYPOOL__V1__STATUS__STATUS_ESTATE);
    ck_assert_int_eq(PP_TUPLE, POLYPOOL__V1__KIND__KIND_TUPLE);
}
END_TEST

START_TEST(default_chunksize)
{
    ck_assert_uint_eq(pp_default_chunksize(10, 4), 1);
    ck_assert_uint_eq(pp_default_chunksize(100, 4), 7);
    ck_assert_uint_eq(pp_default_chunksize(1000, 8), 32);
    ck_assert_uint_eq(pp_default_chunksize(0, 4), 0);
    ck_assert_uint_eq(pp_default_chunksize(16, 4), 1);
    ck_assert_uint_eq(pp_default_chunksize(17, 4), 2);
    ck_assert_uint_eq(pp_default_chunksize(5, 0), 2);   /* 0 workers: as 1 */
}
END_TEST

START_TEST(last_error)
{
    const pp_error *e = pp_last_error();
    ck_assert_ptr_nonnull(e);
    ck_assert_int_eq(e->status, PP_OK);
    ck_assert_str_eq(e->message, "");
    ck_assert_str_eq(e->where, "");
    error_set(PP_EINVAL, "bad %s %d", "thing", 7);
    e = pp_last_error();
    ck_assert_int_eq(e->status, PP_EINVAL);
    ck_assert_str_eq(e->message, "bad thing 7");
    ck_assert_str_eq(e->where, "");

    Polypool__V1__TaskError te = POLYPOOL__V1__TASK_ERROR__INIT;
    te.index = 5;
    te.status = POLYPOOL__V1__STATUS__STATUS_EWORKER;
    te.message = "worker died";
    te.where = "worker 123";
    te.signal = 9;
    error_set_task(&te);
    e = pp_last_error();
    ck_assert_int_eq(e->status, PP_EWORKER);
    ck_assert_str_eq(e->message, "worker died");
    ck_assert_str_eq(e->where, "worker 123");
    ck_assert_uint_eq(e->index, 5);
    ck_assert_int_eq(e->signal, 9);
    ck_assert_str_eq(e->traceback, "");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("status");
    TCase *tc = tcase_create("status");
    tcase_add_test(tc, strerror_never_null);
    tcase_add_test(tc, status_names);
    tcase_add_test(tc, wire_numbers);
    tcase_add_test(tc, default_chunksize);
    tcase_add_test(tc, last_error);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
