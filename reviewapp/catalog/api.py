from django.utils.text import slugify
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from reviewapp.lib.serializers import validated

from . import services
from .models import App
from .permissions import get_app_for
from .serializers import (
    AppCreateInput,
    AppDetailOutput,
    AppOutput,
    AppUpdateInput,
    InstructionsInput,
    InstructionsOutput,
    PermissionsInput,
    PermissionsOutput,
)


class AppListApi(APIView):
    @extend_schema(responses=AppOutput(many=True), summary="The apps you can see, with your level on each")
    def get(self, request):
        apps = App.objects.visible_to(request.user).order_by("name")
        return Response(AppOutput(apps, many=True, context={"request": request}).data)

    @extend_schema(
        request=AppCreateInput,
        responses={201: AppDetailOutput, 409: OpenApiResponse(description="The slug is taken")},
        summary="Register an app (staff; with APP_CREATORS=managers also app managers); you become its manager",
    )
    def post(self, request):
        if not services.can_create_apps(request.user):
            raise PermissionDenied(services.who_may_create_apps())
        data = validated(AppCreateInput, request)
        fields = dict(data)
        slug = fields.pop("slug", "") or slugify(fields["name"])
        app = services.create_app(actor=request.user, slug=slug, **fields)
        app = get_app_for(request.user, app.slug, "view")
        return Response(
            AppDetailOutput(app, context={"request": request}).data, status=status.HTTP_201_CREATED
        )


class AppDetailApi(APIView):
    @extend_schema(responses=AppDetailOutput, summary="One app (CAN_VIEW)")
    def get(self, request, slug):
        app = get_app_for(request.user, slug, "view")
        return Response(AppDetailOutput(app, context={"request": request}).data)

    @extend_schema(request=AppUpdateInput, responses=AppDetailOutput, summary="Change an app (CAN_MANAGE)")
    def patch(self, request, slug):
        app = get_app_for(request.user, slug, "update")
        services.update_app(actor=request.user, app=app, changes=dict(validated(AppUpdateInput, request)))
        app = get_app_for(request.user, slug, "view")
        return Response(AppDetailOutput(app, context={"request": request}).data)

    @extend_schema(responses={204: None}, summary="Delete an app (CAN_MANAGE)")
    def delete(self, request, slug):
        app = get_app_for(request.user, slug, "delete")
        services.delete_app(actor=request.user, app=app)
        return Response(status=status.HTTP_204_NO_CONTENT)


class AppPermissionsApi(APIView):
    @extend_schema(responses=PermissionsOutput, summary="Who has which level on the app (CAN_MANAGE)")
    def get(self, request, slug):
        app = get_app_for(request.user, slug, "permissions")
        return Response(PermissionsOutput.build(app, services.grants_of(app)))

    @extend_schema(
        request=PermissionsInput,
        responses=PermissionsOutput,
        summary="Set principals' level; NONE removes (CAN_MANAGE). All or nothing, audited.",
    )
    def put(self, request, slug):
        app = get_app_for(request.user, slug, "permissions")
        services.set_permissions(actor=request.user, app=app, **validated(PermissionsInput, request))
        return Response(PermissionsOutput.build(app, services.grants_of(app)))


class AppInstructionsApi(APIView):
    @extend_schema(responses=InstructionsOutput, summary="The reviewer instructions in force (CAN_VIEW)")
    def get(self, request, slug):
        app = get_app_for(request.user, slug, "view")
        return Response(InstructionsOutput.build(app, app.current_instructions()))

    @extend_schema(
        request=InstructionsInput,
        responses=InstructionsOutput,
        summary="Write a new version of the reviewer instructions, Markdown (CAN_MANAGE)",
    )
    def put(self, request, slug):
        app = get_app_for(request.user, slug, "update")
        markdown = validated(InstructionsInput, request)["markdown"]
        instructions = services.set_review_instructions(actor=request.user, app=app, markdown=markdown)
        return Response(InstructionsOutput.build(app, instructions))
