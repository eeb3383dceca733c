"""Permission levels as people read them ("Can manage"), while forms still send the API's names."""


def test_the_permission_levels_read_as_words_and_are_sent_as_the_apis_names(as_user, app, manager, viewer):
    body = as_user(manager).get("/apps/support-bot/permissions/").content.decode()

    assert '<option value="CAN_MANAGE"' in body and ">Can manage</option>" in body
    assert ">Can view</option>" in body and ">No access</option>" in body
    assert ">CAN_" not in body and ">NONE<" not in body
