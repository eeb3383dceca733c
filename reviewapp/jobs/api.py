from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from .access import get_job_for
from .serializers import JobSerializer
from .services import AlreadyFinished, cancel_job


class JobDetailApi(APIView):
    @extend_schema(responses=JobSerializer, summary="A background job's status, progress and result")
    def get(self, request, job_id):
        return Response(JobSerializer(get_job_for(request.user, job_id)).data)


class JobCancelApi(APIView):
    @extend_schema(
        request=None,
        responses={200: JobSerializer, 409: OpenApiResponse(description="The job has already finished")},
        summary="Cancel a job: a queued one at once, a running one at its next step (what it made is kept)",
    )
    def post(self, request, job_id):
        job = get_job_for(request.user, job_id)
        try:
            job = cancel_job(job)
        except AlreadyFinished as exc:
            return Response({"detail": str(exc), "status": job.status}, status=status.HTTP_409_CONFLICT)
        return Response(JobSerializer(job).data)
