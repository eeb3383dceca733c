from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from .access import get_job_for
from .serializers import JobSerializer


class JobDetailApi(APIView):
    @extend_schema(responses=JobSerializer, summary="A background job's status, progress and result")
    def get(self, request, job_id):
        return Response(JobSerializer(get_job_for(request.user, job_id)).data)
